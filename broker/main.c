/* SPDX-License-Identifier: Apache-2.0 */
/* ringletd - the broker (placeholder main until the runtime lands). */
#include <stdio.h>

int main(void) {
    printf("ringletd %s (%s)\n", RINGLET_VERSION, RINGLET_GIT_COMMIT);
    return 0;
}
