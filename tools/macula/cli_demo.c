/* Placeholder until the demo (issue 5) lands. */
#include "cli.h"
int cli_demo(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_errorf("this command is not built yet");
    return CLI_EXIT_USAGE;
}
