/* SPDX-License-Identifier: Apache-2.0 */
/*
 * blocking.c - one worker thread for file-system work too slow for the reactor. Creating a
 * partition allocates several inodes and syncs two directories: 3-5 ms per partition on a busy
 * ext4 here, so a CreateTopics of 200 partitions used to stop every connection for a second.
 *
 * broker_blocking_submit(b, job): job->run(job) runs on the worker, jobs one at a time in
 * submission order; then job->done(job) runs on the reactor thread, which the worker wakes
 * through the reactor's eventfd (broker_reactor_wake). run must not touch broker state (topics,
 * the storage engine, requests): only what the job carries and read-only configuration. Without
 * a reactor (tools, unit tests) both run at once on the caller's thread.
 *
 * Shutdown: the reactor drains in-flight requests, so jobs that answer one finish before it
 * stops; broker_blocking_shutdown then runs what is left and joins the thread.
 */
#include "broker.h"
#include "reactor_int.h"

#include <pthread.h>

struct broker_blocking {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool started, stop;
    struct broker_job *queue, *queue_tail; /* to run, oldest first */
    struct broker_job *done_list;          /* run, done() not called yet (newest first) */
};

static void *worker(void *arg) {
    struct broker *b = arg;
    struct broker_blocking *w = b->blocking;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->queue && !w->stop)
            pthread_cond_wait(&w->cond, &w->lock);
        struct broker_job *j = w->queue;
        if (!j) break; /* stopping with nothing left */
        w->queue = j->next;
        if (!w->queue) w->queue_tail = NULL;
        pthread_mutex_unlock(&w->lock);
        j->run(j);
        pthread_mutex_lock(&w->lock);
        j->next = w->done_list;
        w->done_list = j;
        pthread_mutex_unlock(&w->lock);
        if (b->reactor) broker_reactor_wake(b);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int broker_blocking_init(struct broker *b) {
    struct broker_blocking *w = rl_calloc(1, sizeof(*w));
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    b->blocking = w;
    return 0;
}

void broker_blocking_submit(struct broker *b, struct broker_job *job) {
    struct broker_blocking *w = b->blocking;
    if (!w || !b->reactor) {
        job->run(job);
        job->done(job);
        return;
    }
    if (!w->started) {
        int rc = pthread_create(&w->thread, NULL, worker, b);
        if (rc != 0) {
            rl_warn("blocking", "cannot start the worker thread (%s): running on the reactor",
                    rl_strerror(-rc));
            job->run(job);
            job->done(job);
            return;
        }
        w->started = true;
    }
    job->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->queue_tail)
        w->queue_tail->next = job;
    else
        w->queue = job;
    w->queue_tail = job;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void broker_blocking_reap(struct broker *b) {
    struct broker_blocking *w = b->blocking;
    if (!w) return;
    pthread_mutex_lock(&w->lock);
    struct broker_job *list = w->done_list;
    w->done_list = NULL;
    pthread_mutex_unlock(&w->lock);
    struct broker_job *order = NULL; /* back to submission order */
    while (list) {
        struct broker_job *j = list;
        list = j->next;
        j->next = order;
        order = j;
    }
    while (order) {
        struct broker_job *j = order;
        order = j->next;
        j->done(j);
    }
}

void broker_blocking_shutdown(struct broker *b) {
    struct broker_blocking *w = b->blocking;
    if (!w) return;
    if (w->started) {
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL); /* runs everything queued first */
    }
    broker_blocking_reap(b);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    rl_free(w);
    b->blocking = NULL;
}
