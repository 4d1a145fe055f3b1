/**
 * `triquant execution` as a child process for crash tests (bin/triquant.js may not register
 * the command yet): the same options and `runExecution` the CLI uses.
 *   node test/support/execution-child.ts --config FILE [execution flags]
 */
import { Command } from 'commander';
import { loadConfig } from '../../src/config/load.ts';
import { configureExecutionCommand, runExecution, type ExecutionCommandOptions } from '../../src/cli/execution.ts';

const program = new Command('execution-child').option('-c, --config <file>', 'config file');
configureExecutionCommand(program).action(async (options: ExecutionCommandOptions & { config?: string }) => {
  process.exitCode = await runExecution(options, loadConfig({ file: options.config }));
});
await program.parseAsync(process.argv);
