/* SPDX-License-Identifier: Apache-2.0 */
/* main.c - the `ringlet` CLI: a thin main over cli_main (see cli.h). */
#include <signal.h>
#include <stdio.h>

#include "cli.h"

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN); /* `ringlet consume ... | head` ends with EPIPE, not a signal */
    int rc = cli_main(argc, argv, stdout, stderr);
    if (fflush(stdout) != 0 && rc == 0) rc = CLI_FAIL;
    return rc;
}
