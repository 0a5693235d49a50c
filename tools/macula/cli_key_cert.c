/* Placeholder until the TLS certificate module (issue 3) lands. */
#include "cli.h"
int cli_key_cert(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_errorf("this command is not built yet");
    return CLI_EXIT_USAGE;
}
