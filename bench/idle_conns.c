/* SPDX-License-Identifier: Apache-2.0 */
/*
 * idle_conns.c - measures what idle connections cost ringletd: reads the broker's VmRSS, opens
 * N connections (each answers one ApiVersions request, so it is really accepted and served),
 * leaves them idle, and reads VmRSS again. Prints the average bytes per idle connection.
 *
 *   bench_idle_conns <ringletd pid> <host:port> [connections=10000]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static long rss_kib(const char *pid) {
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%s/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kib = -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0) kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

static int read_full(int fd, void *p, size_t n) {
    char *b = p;
    while (n) {
        ssize_t k = recv(fd, b, n, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s <ringletd pid> <host:port> [connections]\n", argv[0]);
        return 2;
    }
    const char *pid = argv[1];
    char host[128];
    snprintf(host, sizeof(host), "%s", argv[2]);
    char *colon = strrchr(host, ':');
    if (!colon) return 2;
    *colon = '\0';
    int port = atoi(colon + 1);
    int n = argc > 3 ? atoi(argv[3]) : 10000;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) return 2;
    /* ApiVersions v0, correlation id 1, client id "b" */
    static const unsigned char req[] = {0, 0, 0, 11, 0, 18, 0, 0, 0, 0, 0, 1, 0, 1, 'b'};
    long before = rss_kib(pid);
    int *fds = calloc((size_t)n, sizeof(int));
    int open_n = 0;
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
            fprintf(stderr, "connection %d: %s\n", i, strerror(errno));
            if (fd >= 0) close(fd);
            break;
        }
        unsigned char lenb[4], body[4096];
        if (send(fd, req, sizeof(req), 0) != (ssize_t)sizeof(req) || read_full(fd, lenb, 4) < 0) {
            fprintf(stderr, "connection %d: no ApiVersions response\n", i);
            close(fd);
            break;
        }
        size_t len = (size_t)lenb[0] << 24 | (size_t)lenb[1] << 16 | (size_t)lenb[2] << 8 | lenb[3];
        if (len > sizeof(body) || read_full(fd, body, len) < 0) {
            close(fd);
            break;
        }
        fds[open_n++] = fd;
    }
    sleep(1);
    long after = rss_kib(pid);
    printf("idle connections: %d\n", open_n);
    printf("ringletd VmRSS before: %ld KiB, after: %ld KiB\n", before, after);
    if (open_n > 0)
        printf("bytes per idle connection: %.0f (target <= 16384)\n",
               (double)(after - before) * 1024.0 / open_n);
    for (int i = 0; i < open_n; i++)
        close(fds[i]);
    free(fds);
    return open_n == n ? 0 : 1;
}
