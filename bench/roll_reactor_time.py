#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""roll_reactor_time.py - time each segment creation held ringletd's reactor thread, from
`strace -f -T -e trace=openat,ftruncate,renameat` of ringletd (scripts/bench-rolls.sh).

A creation starts at the openat (O_TRUNC) or the rename of a spare of a `<20 digits>.log` and
takes in every following create / spare rename / sealing ftruncate on the reactor (ringletd's main
thread) until the next one. The first segments of the logs opened at start-up count too.

    bench/roll_reactor_time.py STRACE_OUTPUT LABEL
"""
import re
import sys

CALL = re.compile(r'(\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+).*<([\d.]+)>')
SEG_LOG = re.compile(r'"\d{20}\.log"')
SEG_FILE = re.compile(r'"\d{20}\.(log|index|timeindex)"')


def main():
    path, label = sys.argv[1], sys.argv[2]
    lines = open(path).read().splitlines()
    main_tid = lines[0].split()[0] if lines else ""
    per, cur = [], None
    for line in lines:
        m = CALL.match(line)
        if not m or m.group(1) != main_tid:
            continue
        sc, args, ms = m.group(2), m.group(3), float(m.group(5)) * 1000.0
        create = sc == "openat" and "O_TRUNC" in args and SEG_FILE.search(args)
        rename = sc == "renameat" and "spare." in args
        cut = sc == "ftruncate" and not args.endswith(", 0")
        if not (create or rename or cut):
            continue
        if (create or rename) and SEG_LOG.search(args):
            if cur is not None:
                per.append(cur)
            cur = 0.0
        if cur is not None:
            cur += ms
    if cur is not None:
        per.append(cur)
    v = sorted(per)
    n = len(v)
    if n < 10:
        print("reactor %-12s %d segment creations: too few to report" % (label, n))
        return
    print("reactor %-12s %d segment creations (start-up's included): p50 %.3f  p90 %.3f  "
          "p99 %.3f  max %.3f  mean %.3f ms in openat/renameat/ftruncate"
          % (label, n, v[n // 2], v[int(n * 0.9)], v[min(n - 1, int(n * 0.99))], v[-1],
             sum(v) / n))


if __name__ == "__main__":
    main()
