#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""protogen.py - generates ringlet's Kafka message codec from protocol/schema/*.schema.

Outputs (into --out-dir, normally the build directory):
  ringlet/protocol_messages.h   structs, prototypes, API key enum, API table declarations
  protocol_messages.c           init/decode/encode/size per message, the API table,
                                proto_request_decode_any / proto_response_decode_any
  protocol_testfill.h/.c        (tests only) fills every message with non-default values and a
                                table of all messages, for the generated round-trip tests
With --docs FILE it also writes the Markdown reference (docs/protocol.md).

Schema format (one file per API, see protocol/gen/README.md):
  api <Name> key=<n> versions=<lo>-<hi> flexible=<v>+|none
  request <Name>Request          (then indented fields)
  response <Name>Response
  <Field> <type> <versions> [null=<versions>] [tag=<n>] [default=<value>]
types: int8 int16 int32 int64 uint16 float64 bool string bytes records uuid, []<type>,
[]<Struct> or <Struct> followed by more-indented child fields (a struct type already defined in
the same message may be referenced again without children). Versions: v3+, v0-2, v4, none.
Python 3 standard library only.
"""
import argparse
import os
import re
import sys

PRIMS = {
    'int8': ('int8_t', 'i8', 1),
    'int16': ('int16_t', 'i16', 2),
    'int32': ('int32_t', 'i32', 4),
    'int64': ('int64_t', 'i64', 8),
    'uint16': ('uint16_t', 'u16', 2),
    'float64': ('double', 'f64', 8),
    'bool': ('bool', 'bool', 1),
    'uuid': ('struct proto_uuid', 'uuid', 16),
    'string': ('struct proto_str', 'string', None),
    'bytes': ('struct proto_bytes', 'bytes', None),
    'records': ('struct proto_bytes', 'bytes', None),
}
INTS = ('int8', 'int16', 'int32', 'int64', 'uint16')


class SchemaError(Exception):
    pass


def parse_versions(s, where):
    if s == 'none':
        return None
    m = re.fullmatch(r'v?(\d+)(\+|-(\d+))?', s)
    if not m:
        raise SchemaError('%s: bad version range %r' % (where, s))
    lo = int(m.group(1))
    if m.group(2) == '+':
        return (lo, None)
    if m.group(3) is not None:
        return (lo, int(m.group(3)))
    return (lo, lo)


def vstr(r):
    if r is None:
        return 'none'
    lo, hi = r
    if hi is None:
        return '%d+' % lo
    if lo == hi:
        return '%d' % lo
    return '%d-%d' % (lo, hi)


class Field:
    def __init__(self, name, typ, versions, where):
        self.name = name
        self.where = where
        self.versions = versions
        self.nullable = None
        self.tag = None
        self.default = None
        self.is_array = typ.startswith('[]')
        self.base = typ[2:] if self.is_array else typ
        self.struct = None  # Struct when base is not a primitive
        self.children = []


class Struct:
    def __init__(self, cname, fields):
        self.cname = cname
        self.fields = fields


class Message:
    def __init__(self, api, kind, name):
        self.api = api
        self.kind = kind
        self.name = name
        self.fields = []
        self.structs = []  # nested structs in dependency order (children before parents)
        self.top = None


class Api:
    def __init__(self, name, key, versions, flexible, path):
        self.name = name
        self.key = key
        self.versions = versions
        self.flexible = flexible
        self.path = path
        self.request = None
        self.response = None


def parse_file(path):
    api = None
    msg = None
    stack = []  # (indent, field)
    with open(path) as f:
        lines = f.read().split('\n')
    for ln, raw in enumerate(lines, 1):
        where = '%s:%d' % (os.path.basename(path), ln)
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        indent = len(line) - len(line.lstrip(' '))
        if indent % 2:
            raise SchemaError('%s: indentation must be a multiple of 2' % where)
        level = indent // 2
        toks = line.split()
        if level == 0:
            if toks[0] == 'api':
                kv = dict(t.split('=', 1) for t in toks[2:])
                fl = kv.get('flexible', 'none')
                api = Api(toks[1], int(kv['key']), parse_versions(kv['versions'], where),
                          None if fl == 'none' else parse_versions(fl, where)[0], path)
            elif toks[0] in ('request', 'response'):
                if api is None:
                    raise SchemaError('%s: %s before api line' % (where, toks[0]))
                msg = Message(api, toks[0], toks[1])
                setattr(api, toks[0], msg)
                stack = []
            else:
                raise SchemaError('%s: unknown directive %r' % (where, toks[0]))
            continue
        if msg is None:
            raise SchemaError('%s: field outside a message' % where)
        if len(toks) < 3:
            raise SchemaError('%s: field needs name, type and versions' % where)
        fld = Field(toks[0], toks[1], parse_versions(toks[2], where), where)
        for opt in toks[3:]:
            if '=' not in opt:
                raise SchemaError('%s: bad option %r' % (where, opt))
            k, val = opt.split('=', 1)
            if k == 'null':
                fld.nullable = parse_versions(val, where)
            elif k == 'tag':
                fld.tag = int(val)
            elif k == 'default':
                fld.default = val
            else:
                raise SchemaError('%s: unknown option %r' % (where, k))
        while stack and stack[-1][0] >= level:
            stack.pop()
        if level == 1:
            msg.fields.append(fld)
        else:
            if not stack or stack[-1][0] != level - 1:
                raise SchemaError('%s: unexpected indentation' % where)
            parent = stack[-1][1]
            if parent.base in PRIMS:
                raise SchemaError('%s: %s has a primitive type, no children' % (where, parent.name))
            parent.children.append(fld)
        stack.append((level, fld))
    if api is None or api.request is None or api.response is None:
        raise SchemaError('%s: needs an api line, a request and a response' % path)
    for m in (api.request, api.response):
        resolve(m)
    return api


def resolve(msg):
    types = {}

    def walk(fields):
        for f in fields:
            if f.base in PRIMS:
                if f.children:
                    raise SchemaError('%s: primitive with children' % f.where)
                continue
            if f.children:
                if f.base in types:
                    raise SchemaError('%s: struct %s defined twice' % (f.where, f.base))
                walk(f.children)
                st = Struct('%s_%s' % (msg.name, f.base), f.children)
                types[f.base] = st
                msg.structs.append(st)
            elif f.base not in types:
                raise SchemaError('%s: unknown type %s' % (f.where, f.base))
            f.struct = types[f.base]
            if f.nullable is not None and not f.is_array:
                raise SchemaError('%s: nullable structs are not supported' % f.where)

    walk(msg.fields)
    for f in all_fields(msg.fields):
        if f.tag is not None and msg.api.flexible is None:
            raise SchemaError('%s: tagged field in a never-flexible API' % f.where)
        if f.nullable is not None and not (f.is_array or f.base in ('string', 'bytes', 'records')):
            raise SchemaError('%s: only strings, bytes and arrays can be nullable' % f.where)
    msg.top = Struct(msg.name, msg.fields)


def all_fields(fields):
    for f in fields:
        yield f
        yield from all_fields(f.children)


# ---- C helpers ---------------------------------------------------------------------------------

def vcond(r, var='v'):
    if r is None:
        return '0'
    lo, hi = r
    parts = []
    if lo > 0:
        parts.append('%s >= %d' % (var, lo))
    if hi is not None:
        parts.append('%s <= %d' % (var, hi))
    if not parts:
        return '1'
    return '(' + ' && '.join(parts) + ')'


def ctype(f):
    if f.struct is not None:
        return 'struct %s' % f.struct.cname
    return PRIMS[f.base][0]


def c_string_lit(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


def default_expr(f):
    """C expression for a scalar/string field's default value."""
    d = f.default
    b = f.base
    if b in INTS:
        return '(%s)(%sLL)' % (PRIMS[b][0], d if d is not None else '0')
    if b == 'float64':
        return '(%s)' % (d if d is not None else '0.0')
    if b == 'bool':
        return 'true' if d == 'true' else 'false'
    if b == 'string':
        if d == 'null':
            return 'PROTO_STR_NULL'
        s = '' if d is None else d.strip('"')
        return '((struct proto_str){%s, %d})' % (c_string_lit(s), len(s.encode()))
    if b in ('bytes', 'records'):
        if d == 'null' or (d is None and b == 'records'):
            return 'PROTO_BYTES_NULL'
        return '((struct proto_bytes){NULL, 0})'
    if b == 'uuid':
        return '((struct proto_uuid){{0}})'
    raise SchemaError('no default for %s' % b)


def min_prim_size(base, flex):
    sz = PRIMS[base][2]
    if sz is not None:
        return str(sz)
    if base == 'string':
        return '(%s ? 1u : 2u)' % flex
    return '(%s ? 1u : 4u)' % flex


class Gen:
    def __init__(self, apis):
        self.apis = apis
        self.h = []
        self.c = []

    # -- per-struct code --

    def flex_expr(self, msg):
        if msg.api.flexible is None:
            return 'false'
        return '(v >= %d)' % msg.api.flexible

    def gen_init(self, st, public_name):
        c = self.c
        c.append('void %s(struct %s *o) {' % (public_name, st.cname))
        c.append('    memset(o, 0, sizeof(*o));')
        for f in st.fields:
            if f.is_array:
                if f.default == 'null':
                    c.append('    o->n_%s = -1;' % f.name)
            elif f.struct is not None:
                c.append('    proto_%s_init(&o->%s);' % (f.struct.cname, f.name))
            elif f.base == 'uuid':
                pass
            else:
                c.append('    o->%s = %s;' % (f.name, default_expr(f)))
        c.append('}')
        c.append('')

    def read_elem(self, base, R, flex, dst):
        if base == 'string':
            return ['%s = proto_read_string(%s, %s);' % (dst, R, flex)]
        if base in ('bytes', 'records'):
            return ['%s = proto_read_bytes(%s, %s);' % (dst, R, flex)]
        return ['%s = proto_read_%s(%s);' % (dst, PRIMS[base][1], R)]

    def gen_read_field(self, msg, f, R, flex):
        """Statements decoding field f from reader expression R into o->name."""
        out = []
        nullc = vcond(f.nullable)
        if f.is_array:
            if f.struct is not None:
                minsz = 'minsz_%s(v)' % f.struct.cname
            else:
                minsz = min_prim_size(f.base, flex)
            out.append('{')
            out.append('    int32_t n = proto_read_array_len(%s, %s, %s);' % (R, flex, minsz))
            out.append('    if ((%s)->err) return -EBADMSG;' % R)
            if nullc != '1':
                out.append('    if (n < 0 && !%s) return bad(%s);' % (nullc, R))
            out.append('    o->n_%s = n;' % f.name)
            out.append('    o->%s = NULL;' % f.name)
            out.append('    if (n > 0) {')
            out.append('        o->%s = proto_arena_alloc(a, (size_t)n * sizeof(*o->%s));'
                       % (f.name, f.name))
            out.append('        for (int32_t i = 0; i < n; i++) {')
            if f.struct is not None:
                out.append('            proto_%s_init(&o->%s[i]);' % (f.struct.cname, f.name))
                out.append('            if (dec_%s(%s, v, a, &o->%s[i])) return -EBADMSG;'
                           % (f.struct.cname, R, f.name))
            else:
                for s in self.read_elem(f.base, R, flex, 'o->%s[i]' % f.name):
                    out.append('            ' + s)
                if f.base == 'string':
                    out.append('            if (o->%s[i].len < 0) return bad(%s);' % (f.name, R))
                out.append('            if ((%s)->err) return -EBADMSG;' % R)
            out.append('        }')
            out.append('    }')
            out.append('}')
            return out
        if f.struct is not None:
            return ['if (dec_%s(%s, v, a, &o->%s)) return -EBADMSG;' % (f.struct.cname, R, f.name)]
        out += self.read_elem(f.base, R, flex, 'o->%s' % f.name)
        if f.base in ('string', 'bytes', 'records') and nullc != '1':
            out.append('if (o->%s.len < 0 && !%s) return bad(%s);' % (f.name, nullc, R))
        return out

    def write_elem(self, base, flex, src):
        if base == 'string':
            return ['if (!%s && %s.len > INT16_MAX) return -EINVAL;' % (flex, src),
                    'proto_write_string(w, %s, %s);' % (src, flex)]
        if base in ('bytes', 'records'):
            return ['proto_write_bytes(w, %s, %s);' % (src, flex)]
        return ['proto_write_%s(w, %s);' % (PRIMS[base][1], src)]

    def gen_write_field(self, f, flex):
        out = []
        nullc = vcond(f.nullable)
        if f.is_array:
            if nullc != '1':
                out.append('if (o->n_%s < 0 && !%s) return -EINVAL;' % (f.name, nullc))
            out.append('proto_write_array_len(w, o->n_%s, %s);' % (f.name, flex))
            out.append('for (int32_t i = 0; i < o->n_%s; i++) {' % f.name)
            if f.struct is not None:
                out.append('    int rc = enc_%s(w, v, &o->%s[i]);' % (f.struct.cname, f.name))
                out.append('    if (rc) return rc;')
            else:
                if f.base == 'string':
                    out.append('    if (o->%s[i].len < 0) return -EINVAL;' % f.name)
                for s in self.write_elem(f.base, flex, 'o->%s[i]' % f.name):
                    out.append('    ' + s)
            out.append('}')
            return out
        if f.struct is not None:
            return ['{', '    int rc = enc_%s(w, v, &o->%s);' % (f.struct.cname, f.name),
                    '    if (rc) return rc;', '}']
        if f.base in ('string', 'bytes', 'records') and nullc != '1':
            out.append('if (o->%s.len < 0 && !%s) return -EINVAL;' % (f.name, nullc))
        out += self.write_elem(f.base, flex, 'o->%s' % f.name)
        return out

    def size_elem(self, base, flex, src):
        sz = PRIMS[base][2]
        if sz is not None:
            return '%du' % sz
        if base == 'string':
            return 'sz_str(%s, %s)' % (src, flex)
        return 'sz_bytes(%s, %s)' % (src, flex)

    def gen_size_field(self, f, flex, acc):
        out = []
        if f.is_array:
            out.append('%s += sz_alen(o->n_%s, %s);' % (acc, f.name, flex))
            out.append('for (int32_t i = 0; i < o->n_%s; i++)' % f.name)
            if f.struct is not None:
                out.append('    %s += sz_%s(v, &o->%s[i]);' % (acc, f.struct.cname, f.name))
            else:
                out.append('    %s += %s;' % (acc, self.size_elem(f.base, flex, 'o->%s[i]' % f.name)))
            return out
        if f.struct is not None:
            return ['%s += sz_%s(v, &o->%s);' % (acc, f.struct.cname, f.name)]
        return ['%s += %s;' % (acc, self.size_elem(f.base, flex, 'o->%s' % f.name))]

    def nondefault_expr(self, f):
        n = f.name
        if f.is_array:
            return 'o->n_%s != %d' % (n, -1 if f.default == 'null' else 0)
        if f.struct is not None:
            return '!isdef_%s(&o->%s)' % (f.struct.cname, n)
        if f.base == 'uuid':
            return '!uuid_zero(o->%s)' % n
        if f.base == 'string':
            return '!str_same(o->%s, %s)' % (n, default_expr(f))
        if f.base in ('bytes', 'records'):
            return '!bytes_same(o->%s, %s)' % (n, default_expr(f))
        if f.base == 'float64':
            return 'o->%s != %s' % (n, default_expr(f))
        return 'o->%s != %s' % (n, default_expr(f))

    def indent(self, lines, n):
        return [(' ' * n + l) if l else l for l in lines]

    def gen_struct_funcs(self, msg, st, is_top):
        c = self.c
        flex = 'flex'
        fx = self.flex_expr(msg)
        plain = [f for f in st.fields if f.tag is None]
        tagged = sorted([f for f in st.fields if f.tag is not None], key=lambda f: f.tag)
        tags = [f.tag for f in tagged]
        if len(set(tags)) != len(tags):
            raise SchemaError('%s: duplicate tag in %s' % (msg.api.path, st.cname))
        # min wire size
        c.append('__attribute__((unused)) static size_t minsz_%s(int16_t v) {' % st.cname)
        c.append('    const bool flex = %s;' % fx)
        c.append('    size_t s = flex ? 1u : 0u;')
        c.append('    (void)v;')
        for f in plain:
            if f.is_array:
                m = '(flex ? 1u : 4u)'
            elif f.struct is not None:
                m = 'minsz_%s(v)' % f.struct.cname
            else:
                m = min_prim_size(f.base, 'flex')
            c.append('    if (%s) s += %s;' % (vcond(f.versions), m))
        c.append('    return s;')
        c.append('}')
        c.append('')
        # is-default (used when this struct is a tagged field)
        c.append('__attribute__((unused)) static bool isdef_%s(const struct %s *o) {'
                 % (st.cname, st.cname))
        c.append('    (void)o;')
        for f in st.fields:
            c.append('    if (%s) return false;' % self.nondefault_expr(f))
        c.append('    return true;')
        c.append('}')
        c.append('')
        # decode
        c.append('static int dec_%s(struct proto_reader *r, int16_t v, struct proto_arena *a,'
                 % st.cname)
        c.append('                  struct %s *o) {' % st.cname)
        c.append('    const bool flex = %s;' % fx)
        c.append('    (void)a;')
        c.append('    (void)flex;')
        for f in plain:
            c.append('    if (%s) {' % vcond(f.versions))
            c += self.indent(self.gen_read_field(msg, f, 'r', flex), 8)
            c.append('    }')
        c.append('    if (flex) {')
        c.append('        uint32_t nt = proto_read_uvarint(r);')
        c.append('        for (uint32_t t = 0; t < nt && !r->err; t++) {')
        c.append('            uint32_t tag = proto_read_uvarint(r);')
        c.append('            uint32_t size = proto_read_uvarint(r);')
        c.append('            if (r->err) break;')
        c.append('            if (size > proto_reader_remaining(r)) return bad(r);')
        if tagged:
            c.append('            struct proto_reader sub;')
            c.append('            proto_reader_init(&sub, r->buf + r->pos, size);')
            c.append('            r->pos += size;')
            c.append('            switch (tag) {')
            for f in tagged:
                c.append('            case %d:' % f.tag)
                c.append('                if (%s) {' % vcond(f.versions))
                c += self.indent(self.gen_read_field(msg, f, '&sub', 'true'), 20)
                c.append('                    if (sub.err) return bad(r);')
                c.append('                }')
                c.append('                break;')
            c.append('            default:')
            c.append('                break;')
            c.append('            }')
        else:
            c.append('            (void)tag;')
            c.append('            r->pos += size;')
        c.append('        }')
        c.append('    }')
        c.append('    return r->err ? -EBADMSG : 0;')
        c.append('}')
        c.append('')
        # size
        c.append('static size_t sz_%s(int16_t v, const struct %s *o) {' % (st.cname, st.cname))
        c.append('    const bool flex = %s;' % fx)
        c.append('    size_t s = 0;')
        c.append('    (void)flex;')
        c.append('    (void)o;')
        for f in plain:
            c.append('    if (%s) {' % vcond(f.versions))
            c += self.indent(self.gen_size_field(f, 'flex', 's'), 8)
            c.append('    }')
        c.append('    if (flex) {')
        c.append('        uint32_t nt = 0;')
        for f in tagged:
            c.append('        if (%s && %s) {' % (vcond(f.versions), self.nondefault_expr(f)))
            c.append('            size_t fs = 0;')
            c += self.indent(self.gen_size_field(f, 'true', 'fs'), 12)
            c.append('            s += proto_uvarint_size(%du) + proto_uvarint_size((uint32_t)fs) + fs;'
                     % f.tag)
            c.append('            nt++;')
            c.append('        }')
        c.append('        s += proto_uvarint_size(nt);')
        c.append('    }')
        c.append('    return s;')
        c.append('}')
        c.append('')
        # encode
        c.append('static int enc_%s(struct proto_writer *w, int16_t v, const struct %s *o) {'
                 % (st.cname, st.cname))
        c.append('    const bool flex = %s;' % fx)
        c.append('    (void)flex;')
        for f in plain:
            c.append('    if (%s) {' % vcond(f.versions))
            c += self.indent(self.gen_write_field(f, 'flex'), 8)
            c.append('    }')
        c.append('    if (flex) {')
        c.append('        uint32_t nt = 0;')
        for f in tagged:
            c.append('        if (%s && %s) nt++;' % (vcond(f.versions), self.nondefault_expr(f)))
        c.append('        proto_write_uvarint(w, nt);')
        for f in tagged:
            c.append('        if (%s && %s) {' % (vcond(f.versions), self.nondefault_expr(f)))
            c.append('            size_t fs = 0;')
            c += self.indent(self.gen_size_field(f, 'true', 'fs'), 12)
            c.append('            proto_write_uvarint(w, %du);' % f.tag)
            c.append('            proto_write_uvarint(w, (uint32_t)fs);')
            c += self.indent(self.gen_write_field(f, 'true'), 12)
            c.append('        }')
        c.append('    }')
        c.append('    return 0;')
        c.append('}')
        c.append('')

    def gen_header_struct(self, st):
        h = self.h
        h.append('struct %s {' % st.cname)
        if not st.fields:
            h.append('    char unused_; /* no fields */')
        for f in st.fields:
            t = ctype(f)
            if f.is_array:
                h.append('    %s *%s; /* %s%s */' % (t, f.name, vstr(f.versions), fmeta(f)))
                h.append('    int32_t n_%s;' % f.name)
            else:
                h.append('    %s %s; /* %s%s */' % (t, f.name, vstr(f.versions), fmeta(f)))
        h.append('};')
        h.append('')

    def run(self):
        h, c = self.h, self.c
        h.append('/* SPDX-License-Identifier: Apache-2.0 */')
        h.append('/* protocol_messages.h - GENERATED by protocol/gen/protogen.py from the')
        h.append(' * files in protocol/schema/. Do not edit. Included by ringlet/protocol.h. */')
        h.append('#ifndef RINGLET_PROTOCOL_MESSAGES_H')
        h.append('#define RINGLET_PROTOCOL_MESSAGES_H')
        h.append('')
        h.append('enum proto_api_key {')
        for api in self.apis:
            h.append('    PROTO_API_KEY_%s = %d,' % (upper_snake(api.name), api.key))
        h.append('};')
        h.append('')
        h.append('/* proto_api_info, proto_apis, proto_api_lookup and the decode_any functions are')
        h.append(' * declared in ringlet/protocol.h and defined in protocol_messages.c. */')
        h.append('')
        c.append('/* SPDX-License-Identifier: Apache-2.0 */')
        c.append('/* protocol_messages.c - GENERATED by protocol/gen/protogen.py from the')
        c.append(' * files in protocol/schema/. Do not edit. */')
        c.append('#include <errno.h>')
        c.append('#include <string.h>')
        c.append('')
        c.append('#include "ringlet/protocol.h"')
        c.append('')
        c.append(HELPERS)
        for api in self.apis:
            h.append('/* ---- %s (key %d, versions %s, flexible %s) ---- */'
                     % (api.name, api.key, vstr(api.versions),
                        ('%d+' % api.flexible) if api.flexible is not None else 'never'))
            for msg in (api.request, api.response):
                for st in msg.structs + [msg.top]:
                    self.gen_header_struct(st)
                for st in msg.structs:
                    h.append('void proto_%s_init(struct %s *o);' % (st.cname, st.cname))
                n = msg.name
                h.append('void proto_%s_init(struct %s *m);' % (n, n))
                h.append('int proto_%s_decode(struct proto_reader *r, int16_t version, '
                         'struct proto_arena *a,' % n)
                h.append('    struct %s *out);' % n)
                h.append('int proto_%s_encode(struct proto_writer *w, int16_t version, '
                         'const struct %s *m);' % (n, n))
                h.append('size_t proto_%s_size(int16_t version, const struct %s *m);' % (n, n))
                h.append('')
                c.append('/* ==== %s ==== */' % n)
                c.append('')
                for st in msg.structs:
                    self.gen_init(st, 'proto_%s_init' % st.cname)
                self.gen_init(msg.top, 'proto_%s_init' % n)
                for st in msg.structs + [msg.top]:
                    self.gen_struct_funcs(msg, st, st is msg.top)
                lo, hi = api.versions
                vr = '(version < %d || version > %d)' % (lo, hi)
                c.append('int proto_%s_decode(struct proto_reader *r, int16_t version, '
                         'struct proto_arena *a,' % n)
                c.append('    struct %s *out) {' % n)
                c.append('    if %s return -ENOTSUP;' % vr)
                c.append('    proto_%s_init(out);' % n)
                c.append('    if (dec_%s(r, version, a, out) || r->err) {' % n)
                c.append('        if (!r->err) r->err = -EBADMSG;')
                c.append('        return -EBADMSG;')
                c.append('    }')
                c.append('    return 0;')
                c.append('}')
                c.append('')
                c.append('int proto_%s_encode(struct proto_writer *w, int16_t version, '
                         'const struct %s *m) {' % (n, n))
                c.append('    if %s return -EINVAL;' % vr)
                c.append('    return enc_%s(w, version, m);' % n)
                c.append('}')
                c.append('')
                c.append('size_t proto_%s_size(int16_t version, const struct %s *m) {' % (n, n))
                c.append('    if %s return 0;' % vr)
                c.append('    return sz_%s(version, m);' % n)
                c.append('}')
                c.append('')
        h.append('#endif /* RINGLET_PROTOCOL_MESSAGES_H */')
        # API table and decode_any
        c.append('const struct proto_api_info proto_apis[] = {')
        for api in self.apis:
            c.append('    {%d, "%s", %d, %d, %d},' % (api.key, api.name, api.versions[0],
                                                      api.versions[1],
                                                      -1 if api.flexible is None else api.flexible))
        c.append('};')
        c.append('const size_t proto_n_apis = sizeof(proto_apis) / sizeof(proto_apis[0]);')
        c.append('')
        c.append('const struct proto_api_info *proto_api_lookup(int16_t key) {')
        c.append('    switch (key) {')
        for i, api in enumerate(self.apis):
            c.append('    case %d: return &proto_apis[%d];' % (api.key, i))
        c.append('    default: return NULL;')
        c.append('    }')
        c.append('}')
        c.append('')
        for kind in ('request', 'response'):
            c.append('int proto_%s_decode_any(int16_t key, int16_t version, struct proto_reader *r,'
                     % kind)
            c.append('                           struct proto_arena *a) {')
            c.append('    switch (key) {')
            for api in self.apis:
                n = getattr(api, kind).name
                c.append('    case %d: {' % api.key)
                c.append('        struct %s *m = proto_arena_alloc(a, sizeof(*m));' % n)
                c.append('        return proto_%s_decode(r, version, a, m);' % n)
                c.append('    }')
            c.append('    default: return -ENOTSUP;')
            c.append('    }')
            c.append('}')
            c.append('')

    # -- test filler --

    def gen_testfill(self):
        h, c = [], []
        h.append('/* SPDX-License-Identifier: Apache-2.0 */')
        h.append('/* protocol_testfill.h - GENERATED by protocol/gen/protogen.py (tests only). */')
        h.append('#ifndef RINGLET_PROTOCOL_TESTFILL_H')
        h.append('#define RINGLET_PROTOCOL_TESTFILL_H')
        h.append('#include "ringlet/protocol.h"')
        h.append('')
        h.append('/* mode 0: every field present at the version gets a non-default value;')
        h.append(' * mode 1: like 0, but nullable strings/bytes/arrays are null where allowed. */')
        h.append('struct protogen_case {')
        h.append('    int16_t key;')
        h.append('    const char *name;')
        h.append('    bool response;')
        h.append('    int16_t min_version, max_version;')
        h.append('    size_t struct_size;')
        h.append('    void (*fill)(void *m, int16_t v, struct proto_arena *a, int mode, uint32_t *seed);')
        h.append('    int (*encode)(struct proto_writer *w, int16_t v, const void *m);')
        h.append('    int (*decode)(struct proto_reader *r, int16_t v, struct proto_arena *a, void *m);')
        h.append('    size_t (*size)(int16_t v, const void *m);')
        h.append('};')
        h.append('extern const struct protogen_case protogen_cases[];')
        h.append('extern const size_t protogen_n_cases;')
        h.append('#endif')
        c.append('/* SPDX-License-Identifier: Apache-2.0 */')
        c.append('/* protocol_testfill.c - GENERATED by protocol/gen/protogen.py (tests only). */')
        c.append('#include <stdio.h>')
        c.append('#include <string.h>')
        c.append('#include "protocol_testfill.h"')
        c.append('')
        c.append(FILL_HELPERS)
        cases = []
        for api in self.apis:
            for msg in (api.request, api.response):
                for st in msg.structs + [msg.top]:
                    c.append('static void fill_%s(struct %s *o, int16_t v, struct proto_arena *a, '
                             'int mode, uint32_t *seed);' % (st.cname, st.cname))
                for st in msg.structs + [msg.top]:
                    c += self.fill_struct(st)
                n = msg.name
                c.append('static void tf_fill_%s(void *m, int16_t v, struct proto_arena *a, int mode, '
                         'uint32_t *seed) {' % n)
                c.append('    proto_%s_init(m);' % n)
                c.append('    fill_%s(m, v, a, mode, seed);' % n)
                c.append('}')
                c.append('static int tf_enc_%s(struct proto_writer *w, int16_t v, const void *m) {' % n)
                c.append('    return proto_%s_encode(w, v, m);' % n)
                c.append('}')
                c.append('static int tf_dec_%s(struct proto_reader *r, int16_t v, struct proto_arena *a,'
                         ' void *m) {' % n)
                c.append('    return proto_%s_decode(r, v, a, m);' % n)
                c.append('}')
                c.append('static size_t tf_size_%s(int16_t v, const void *m) {' % n)
                c.append('    return proto_%s_size(v, m);' % n)
                c.append('}')
                c.append('')
                cases.append('    {%d, "%s", %s, %d, %d, sizeof(struct %s), tf_fill_%s, tf_enc_%s, '
                             'tf_dec_%s, tf_size_%s},'
                             % (api.key, n, 'true' if msg.kind == 'response' else 'false',
                                api.versions[0], api.versions[1], n, n, n, n, n))
        c.append('const struct protogen_case protogen_cases[] = {')
        c += cases
        c.append('};')
        c.append('const size_t protogen_n_cases = sizeof(protogen_cases) / sizeof(protogen_cases[0]);')
        return '\n'.join(h) + '\n', '\n'.join(c) + '\n'

    def fill_value(self, f, dst, nullc):
        b = f.base
        if b in INTS or b == 'float64':
            return ['%s = (%s)((int64_t)%s + 1 + (int64_t)(next_rand(seed) %% 100u));'
                    % (dst, PRIMS[b][0], default_expr(f) if not f.is_array else '0')]
        if b == 'bool':
            return ['%s = !%s;' % (dst, default_expr(f) if not f.is_array else 'false')]
        if b == 'uuid':
            return ['fill_uuid(&%s, seed);' % dst]
        if b == 'string':
            if nullc:
                return ['%s = (mode == 1 && %s) ? PROTO_STR_NULL : fill_str(a, seed);' % (dst, nullc)]
            return ['%s = fill_str(a, seed);' % dst]
        if nullc:
            return ['%s = (mode == 1 && %s) ? PROTO_BYTES_NULL : fill_bytes(a, seed);' % (dst, nullc)]
        return ['%s = fill_bytes(a, seed);' % dst]

    def fill_struct(self, st):
        c = ['static void fill_%s(struct %s *o, int16_t v, struct proto_arena *a, int mode, '
             'uint32_t *seed) {' % (st.cname, st.cname)]
        c.append('    (void)v; (void)a; (void)mode; (void)seed;')
        for f in st.fields:
            nullc = None if f.nullable is None else vcond(f.nullable)
            c.append('    if (%s) {' % vcond(f.versions))
            if f.is_array:
                if nullc:
                    c.append('        if (mode == 1 && %s) {' % nullc)
                    c.append('            o->n_%s = -1;' % f.name)
                    c.append('            o->%s = NULL;' % f.name)
                    c.append('        } else {')
                else:
                    c.append('        {')
                c.append('            o->n_%s = 2;' % f.name)
                c.append('            o->%s = proto_arena_alloc(a, 2 * sizeof(*o->%s));' % (f.name, f.name))
                c.append('            for (int i = 0; i < 2; i++) {')
                if f.struct is not None:
                    c.append('                proto_%s_init(&o->%s[i]);' % (f.struct.cname, f.name))
                    c.append('                fill_%s(&o->%s[i], v, a, mode, seed);' % (f.struct.cname, f.name))
                else:
                    for s in self.fill_value(f, 'o->%s[i]' % f.name, None):
                        c.append('                ' + s)
                c.append('            }')
                c.append('        }')
            elif f.struct is not None:
                c.append('        fill_%s(&o->%s, v, a, mode, seed);' % (f.struct.cname, f.name))
            else:
                for s in self.fill_value(f, 'o->%s' % f.name, nullc):
                    c.append('        ' + s)
            c.append('    }')
        c.append('}')
        c.append('')
        return c

    # -- docs --

    def gen_docs(self):
        d = []
        d.append('# Kafka protocol support')
        d.append('')
        d.append('Generated by `protocol/gen/protogen.py` from `protocol/schema/*.schema` '
                 '(`cmake --build <dir> --target protocol_docs`). Do not edit by hand.')
        d.append('')
        d.append('Request headers are v1 (v2 from the first flexible version: ClientId stays an '
                 'INT16 string, then tagged fields); response headers are v0 (v1 for flexible '
                 'versions), except ApiVersions responses which always use header v0.')
        d.append('')
        d.append('| API | Key | Versions | Flexible from |')
        d.append('|---|---|---|---|')
        for api in sorted(self.apis, key=lambda a: a.key):
            d.append('| %s | %d | %s | %s |' % (api.name, api.key, vstr(api.versions),
                                             ('v%d' % api.flexible) if api.flexible is not None
                                             else 'never'))
        d.append('')
        d.append('## Messages')
        d.append('')
        d.append('Fields in wire order with the versions they appear in. `?` marks nullable '
                 'versions, `tag N` a tagged field (flexible versions only, omitted when equal '
                 'to the default).')
        for api in sorted(self.apis, key=lambda a: a.key):
            d.append('')
            d.append('### %s (key %d)' % (api.name, api.key))
            for msg in (api.request, api.response):
                d.append('')
                d.append('`%s`:' % msg.name)
                d.append('')
                d.append('```')
                self.doc_fields(msg.fields, 0, d)
                d.append('```')
        return '\n'.join(d) + '\n'

    def doc_fields(self, fields, depth, d):
        for f in fields:
            extra = ''
            if f.nullable is not None:
                extra += ' ?%s' % vstr(f.nullable)
            if f.tag is not None:
                extra += ' tag %d' % f.tag
            if f.default is not None:
                extra += ' default %s' % f.default
            t = ('[]' if f.is_array else '') + f.base
            d.append('%s%s %s v%s%s' % ('  ' * depth, f.name, t, vstr(f.versions), extra))
            self.doc_fields(f.children, depth + 1, d)


def fmeta(f):
    s = ''
    if f.nullable is not None:
        s += ', nullable %s' % vstr(f.nullable)
    if f.tag is not None:
        s += ', tag %d' % f.tag
    if f.default is not None:
        s += ', default %s' % f.default
    return s


def upper_snake(name):
    return re.sub(r'(?<!^)(?=[A-Z])', '_', name).upper()


HELPERS = r'''static inline int bad(struct proto_reader *r) {
    if (!r->err) r->err = -EBADMSG;
    return -EBADMSG;
}

static inline size_t sz_str(struct proto_str s, bool flex) {
    if (s.len < 0) return flex ? 1u : 2u;
    return (flex ? proto_uvarint_size((uint32_t)s.len + 1) : 2u) + (size_t)s.len;
}

static inline size_t sz_bytes(struct proto_bytes b, bool flex) {
    if (b.len < 0) return flex ? 1u : 4u;
    return (flex ? proto_uvarint_size((uint32_t)b.len + 1) : 4u) + (size_t)b.len;
}

static inline size_t sz_alen(int32_t n, bool flex) {
    if (n < 0) return flex ? 1u : 4u;
    return flex ? proto_uvarint_size((uint32_t)n + 1) : 4u;
}

static inline bool uuid_zero(struct proto_uuid u) {
    static const struct proto_uuid zero;
    return memcmp(u.b, zero.b, 16) == 0;
}

static inline bool str_same(struct proto_str x, struct proto_str y) {
    if (x.len < 0 || y.len < 0) return x.len == y.len;
    return x.len == y.len && (x.len == 0 || memcmp(x.ptr, y.ptr, (size_t)x.len) == 0);
}

static inline bool bytes_same(struct proto_bytes x, struct proto_bytes y) {
    if (x.len < 0 || y.len < 0) return x.len == y.len;
    return x.len == y.len && (x.len == 0 || memcmp(x.ptr, y.ptr, (size_t)x.len) == 0);
}
'''

FILL_HELPERS = r'''static uint32_t next_rand(uint32_t *seed) {
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 8;
}

static struct proto_str fill_str(struct proto_arena *a, uint32_t *seed) {
    char *p = proto_arena_alloc(a, 16);
    int n = snprintf(p, 16, "s%u", (unsigned)(next_rand(seed) % 100000u));
    return (struct proto_str){p, n};
}

static struct proto_bytes fill_bytes(struct proto_arena *a, uint32_t *seed) {
    uint8_t *p = proto_arena_alloc(a, 3);
    for (int i = 0; i < 3; i++) p[i] = (uint8_t)next_rand(seed);
    return (struct proto_bytes){p, 3};
}

static void fill_uuid(struct proto_uuid *u, uint32_t *seed) {
    for (int i = 0; i < 16; i++) u->b[i] = (uint8_t)(next_rand(seed) | 1u);
}
'''


def write_file(path, text):
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--schema-dir', required=True)
    ap.add_argument('--out-dir')
    ap.add_argument('--docs')
    args = ap.parse_args()
    apis = []
    try:
        for fn in sorted(os.listdir(args.schema_dir)):
            if fn.endswith('.schema'):
                apis.append(parse_file(os.path.join(args.schema_dir, fn)))
        apis.sort(key=lambda a: a.key)
        keys = [a.key for a in apis]
        if len(set(keys)) != len(keys):
            raise SchemaError('duplicate API key')
        g = Gen(apis)
        g.run()
    except SchemaError as e:
        print('protogen: %s' % e, file=sys.stderr)
        return 1
    if args.out_dir:
        write_file(os.path.join(args.out_dir, 'ringlet', 'protocol_messages.h'),
                         '\n'.join(g.h) + '\n')
        write_file(os.path.join(args.out_dir, 'protocol_messages.c'), '\n'.join(g.c) + '\n')
        th, tc = g.gen_testfill()
        write_file(os.path.join(args.out_dir, 'protocol_testfill.h'), th)
        write_file(os.path.join(args.out_dir, 'protocol_testfill.c'), tc)
    if args.docs:
        write_file(args.docs, g.gen_docs())
    return 0


if __name__ == '__main__':
    sys.exit(main())
