/** Process exit codes of the `triquant` command (documented in docs/cli.md). */
export const EXIT_OK = 0;
/** A run-time failure: a service failed, a benchmark errored. */
export const EXIT_FAILURE = 1;
/** Bad usage or bad configuration: fix the command line or the config file. */
export const EXIT_USAGE = 2;
/** The command exists but is not built yet. */
export const EXIT_NOT_BUILT = 3;
