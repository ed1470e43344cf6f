/* SPDX-License-Identifier: Apache-2.0 */
/* ringletd - the broker. */
#include <stdio.h>

const char *broker_version(void);

int main(void) {
    printf("ringletd %s\n", broker_version());
    return 0;
}
