/* SPDX-License-Identifier: Apache-2.0 */
/* version.c - the library version string, fixed at build time from the project version. */
#include "ringlet/client.h"

const char *ringlet_version(void) {
    return RINGLET_VERSION;
}
