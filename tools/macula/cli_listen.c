/* Placeholder until the peering layer (issue 4) lands. */
#include "cli.h"
int cli_listen(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_errorf("this command is not built yet");
    return CLI_EXIT_USAGE;
}
