/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - ringletd: command line and configuration, start-up in order (storage, cluster id,
 * topics, groups, listeners), the reactor, and an orderly shutdown on SIGTERM/SIGINT.
 *
 * Exit codes: 0 after a clean shutdown, 1 when start-up fails (storage, listeners), 2 for a bad
 * command line or configuration ("file:line: what is wrong").
 */
#include "broker.h"
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define DRAIN_MS 5000

static void usage(FILE *f) {
    fprintf(f, "usage: ringletd [--config FILE] [--set name=value]... [--name=value]...\n"
               "                [--help] [--version] [--help-config[=markdown]]\n"
               "\n"
               "  --config FILE        read settings from a YAML file\n"
               "  --set name=value     set one setting (overrides the file); --name=value is the "
               "same\n"
               "  --help-config        list every setting with its type, default and bounds\n"
               "  --help-config=markdown  the same as a Markdown table (docs/configuration.md)\n"
               "  --help-metrics[=markdown]  list every metric (docs/metrics.md)\n"
               "  --version            print the version and exit\n");
}

/* ---- cluster id (meta.properties, Kafka's format) -------------------------------------------- */

static void trim(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

/* Reads cluster.id (and node.id) from path. 0 if found, -ENOENT if the file or key is missing. */
static int meta_read(const char *path, char *cluster_id, size_t cap, long long *node_id) {
    FILE *f = fopen(path, "r");
    if (!f) return -errno;
    char line[512];
    int rc = -ENOENT;
    *node_id = -1;
    while (fgets(line, sizeof(line), f)) {
        trim(line);
        if (line[0] == '#' || line[0] == '!') continue;
        if (strncmp(line, "cluster.id=", 11) == 0 && line[11]) {
            size_t n = strlen(line + 11);
            if (n >= cap) n = cap - 1;
            memcpy(cluster_id, line + 11, n);
            cluster_id[n] = '\0';
            rc = 0;
        } else if (strncmp(line, "node.id=", 8) == 0) {
            *node_id = strtoll(line + 8, NULL, 10);
        }
    }
    fclose(f);
    return rc;
}

/* Writes meta.properties atomically (temporary file, fsync, rename). */
static int meta_write(const char *dir, const char *path, const char *cluster_id, long long node) {
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    char buf[512];
    int n = snprintf(buf, sizeof(buf),
                     "#\n# Written by ringletd %s: the cluster this data directory belongs to.\n"
                     "version=1\ncluster.id=%s\nnode.id=%lld\n",
                     RINGLET_VERSION, cluster_id, node);
    int rc = 0;
    if (write(fd, buf, (size_t)n) != n || fsync(fd) != 0) rc = errno ? -errno : -EIO;
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0) rc = -errno;
    if (rc == 0) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    } else {
        unlink(tmp);
    }
    return rc;
}

/* 16 random bytes in base64url without padding: 22 characters, like Kafka's cluster ids. */
static void cluster_id_generate(char out[23]) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t raw[16];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n > 0) got += (size_t)n;
    }
    uint32_t acc = 0;
    int bits = 0, j = 0;
    for (size_t i = 0; i < sizeof(raw); i++) {
        acc = (acc << 8) | raw[i];
        bits += 8;
        while (bits >= 6) {
            out[j++] = alphabet[(acc >> (bits - 6)) & 63];
            bits -= 6;
        }
    }
    if (bits > 0) out[j++] = alphabet[(acc << (6 - bits)) & 63];
    out[j] = '\0';
}

static int cluster_id_setup(struct broker *b) {
    if (b->cfg.cluster_id && b->cfg.cluster_id[0]) {
        snprintf(b->cluster_id, sizeof(b->cluster_id), "%s", b->cfg.cluster_id);
        return 0;
    }
    char path[4096];
    long long stored_node = -1;
    snprintf(path, sizeof(path), "%s/meta.properties", b->cfg.log_dir);
    int rc = meta_read(path, b->cluster_id, sizeof(b->cluster_id), &stored_node);
    if (rc == 0) {
        if (stored_node >= 0 && stored_node != b->node_id)
            rl_warn("main", "%s: node.id %lld differs from the configured node.id %d", path,
                    stored_node, b->node_id);
        return 0;
    }
    char id[23];
    cluster_id_generate(id);
    rc = meta_write(b->cfg.log_dir, path, id, b->node_id);
    if (rc < 0) {
        rl_error("main", "cannot write %s: %s", path, rl_strerror(rc));
        return rc;
    }
    snprintf(b->cluster_id, sizeof(b->cluster_id), "%s", id);
    rl_info("main", "new cluster id %s written to %s", id, path);
    return 0;
}

/* ---- command line ---------------------------------------------------------------------------- */

/* reactor.cpu: pins the calling (reactor) thread; the storage engine, opened next, gives its
 * io_uring workers the same CPU. Threads started earlier (admin HTTP) stay unpinned. */
static int pin_reactor(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) < 0) {
        int err = -errno;
        rl_error("main", "reactor.cpu=%d: cannot pin the reactor thread: %s", cpu,
                 rl_strerror(err));
        return err;
    }
    rl_info("main", "reactor thread pinned to CPU %d", cpu);
    return 0;
}

/* Parses argv into cfg. Returns -1 to continue, else the exit code. */
static int parse_args(int argc, char **argv, struct broker_config *cfg) {
    const char *config_file = NULL;
    char err[1024];
    /* First pass: informational flags and the config file (loaded before any override). */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            printf("ringletd %s (%s)\n", RINGLET_VERSION, RINGLET_GIT_COMMIT);
            return 0;
        }
        if (strcmp(a, "--help-config") == 0 || strcmp(a, "--help-config=text") == 0) {
            broker_config_print_help(stdout, false);
            return 0;
        }
        if (strcmp(a, "--help-config=markdown") == 0) {
            broker_config_print_help(stdout, true);
            return 0;
        }
        if (strncmp(a, "--help-metrics", 14) == 0) {
            broker_metrics_print_help(stdout, strcmp(a, "--help-metrics=markdown") == 0);
            return 0;
        }
        if (strcmp(a, "--config") == 0 || strcmp(a, "--set") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "ringletd: %s needs an argument\n", a);
                usage(stderr);
                return 2;
            }
            if (a[2] == 'c') config_file = argv[i + 1];
            i++;
        } else if (strncmp(a, "--config=", 9) == 0) {
            config_file = a + 9;
        } else if (strncmp(a, "--set=", 6) == 0 || (strncmp(a, "--", 2) == 0 && strchr(a, '='))) {
            /* an override, applied below */
        } else {
            fprintf(stderr, "ringletd: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (config_file && broker_config_load_yaml(cfg, config_file, err, sizeof(err)) < 0) {
        fprintf(stderr, "ringletd: %s\n", err);
        return 2;
    }
    /* Second pass: overrides, in order. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *kv = NULL;
        if (strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        if (strcmp(a, "--set") == 0)
            kv = argv[++i];
        else if (strncmp(a, "--set=", 6) == 0)
            kv = a + 6;
        else if (strncmp(a, "--config=", 9) != 0)
            kv = a + 2;
        if (kv && broker_config_set(cfg, kv, err, sizeof(err)) < 0) {
            fprintf(stderr, "ringletd: command line: %s\n", err);
            return 2;
        }
    }
    return -1;
}

int main(int argc, char **argv) {
    static struct broker broker;
    struct broker *b = &broker;
    broker_config_defaults(&b->cfg);
    int code = parse_args(argc, argv, &b->cfg);
    if (code >= 0) {
        broker_config_free(&b->cfg);
        return code;
    }
    rl_log_set_level((enum rl_log_level)b->cfg.log_level);
    rl_log_set_format((enum rl_log_format)b->cfg.log_format);
    b->node_id = (int32_t)b->cfg.node_id;

    /* SIGTERM/SIGINT arrive through a signalfd in the ring: block them before anything else
     * (threads created later inherit the mask). Writes to closed sockets must not kill us. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (broker_admin_http_start(b) < 0) { /* before recovery: /health/live answers during it */
        broker_config_free(&b->cfg);
        return 2;
    }

    int rc;
    code = 1;
    if (b->cfg.reactor_cpu >= 0 && pin_reactor(b->cfg.reactor_cpu) < 0) goto out;
    struct storage_engine_config sc = {
        .data_dir = b->cfg.log_dir,
        .flush_policy = b->cfg.log_flush_policy == BROKER_FLUSH_NONE ? STORAGE_FLUSH_NONE
                        : b->cfg.log_flush_policy == BROKER_FLUSH_INTERVAL
                            ? STORAGE_FLUSH_INTERVAL
                            : STORAGE_FLUSH_GROUP_COMMIT,
        .segment_preallocate_bytes = b->cfg.log_segment_preallocate_bytes,
        .cache_tail_bytes = b->cfg.log_cache_tail_bytes,
        .direct_io = b->cfg.log_direct_io,
        .direct_cache_bytes = b->cfg.log_direct_cache_bytes,
        .direct_min_bytes = (int32_t)b->cfg.log_direct_min_bytes,
        .ring_entries = 0,
    };
    if ((rc = storage_engine_open(&sc, &b->storage)) < 0) {
        rl_error("main", "cannot open the data directory %s: %s", b->cfg.log_dir, rl_strerror(rc));
        goto out;
    }
    if (b->metrics)
        storage_engine_set_fsync_observer(b->storage, broker_metrics_fsync_observe, b->metrics);
    if (cluster_id_setup(b) < 0) goto out_storage;
    if ((rc = broker_reactor_create(b, true)) < 0) goto out_storage;
    if ((rc = broker_topics_init(b)) < 0) {
        rl_error("main", "loading topics failed: %s", rl_strerror(rc));
        goto out_reactor;
    }
    if ((rc = broker_groups_init(b)) < 0) {
        rl_error("main", "loading consumer groups failed: %s", rl_strerror(rc));
        goto out_topics;
    }
    broker_blocking_init(b); /* jobs come from requests, so from here on */
    if ((rc = broker_reactor_listen(b)) < 0) goto out_groups;
    b->ready = true;
    const char *host;
    int32_t port;
    broker_advertised_listener(b, &host, &port);
    rl_info("main", "ringletd ready: listening on %s (advertised %s:%d), node %d, cluster %s",
            broker_reactor_addresses(b), host, port, b->node_id, b->cluster_id);
    rc = broker_reactor_run(b, DRAIN_MS);
    code = rc < 0 ? 1 : 0;
out_groups:
    broker_blocking_shutdown(b); /* its last jobs may still create topics */
    broker_groups_shutdown(b);
out_topics:
    broker_topics_shutdown(b);
out_reactor:
out_storage:
    storage_engine_close(b->storage); /* writes the clean-shutdown marker */
    b->storage = NULL;
    broker_reactor_destroy(b);
out:
    broker_admin_http_stop(b);
    if (code == 0) rl_info("main", "ringletd stopped cleanly");
    broker_config_free(&b->cfg);
    return code;
}
