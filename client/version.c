/* SPDX-License-Identifier: Apache-2.0 */
#include "ringlet/client.h"

const char *ringlet_version(void) {
    return RINGLET_VERSION;
}
