/* SPDX-License-Identifier: Apache-2.0 */
/* ringlet - the admin CLI. */
#include <stdio.h>

#include "ringlet/client.h"

int main(void) {
    printf("ringlet %s\n", ringlet_version());
    return 0;
}
