/* Placeholder until the QUIC layer (issue 3) lands. */
#include "cli.h"
int cli_quic(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_errorf("this command is not built yet");
    return CLI_EXIT_USAGE;
}
