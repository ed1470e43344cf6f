/* SPDX-License-Identifier: Apache-2.0 */
/* client.h - ringlet's C client library (producer, consumer, admin). */
#ifndef RINGLET_CLIENT_H
#define RINGLET_CLIENT_H

/* The library version, "MAJOR.MINOR.PATCH". */
const char *ringlet_version(void);

#endif
