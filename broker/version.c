/* SPDX-License-Identifier: Apache-2.0 */
const char *broker_version(void);
const char *broker_version(void) {
    return RINGLET_VERSION " (" RINGLET_GIT_COMMIT ")";
}
