/* Placeholder until the QUIC layer lands (issue 3). */
#include "cli.h"
int cli_key_cert(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_errorf("key cert: not built yet");
    return CLI_EXIT_USAGE;
}
