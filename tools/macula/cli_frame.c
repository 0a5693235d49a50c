/* Placeholder until the frame layer lands (issue 2). */
#include "cli.h"
int cli_frame(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_errorf("frame: not built yet");
    return CLI_EXIT_USAGE;
}
