/* Placeholder until the benchmarks (issue 5) lands. */
#include "cli.h"
int cli_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_errorf("this command is not built yet");
    return CLI_EXIT_USAGE;
}
