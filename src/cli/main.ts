/**
 * The `triquant` command: parses the command line, loads the configuration, and wires the
 * services together. The only module allowed to import every service.
 */
import { Command, CommanderError, Option } from 'commander';
import { TriquantError } from '../core/errors.ts';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { EXIT_FAILURE, EXIT_NOT_BUILT, EXIT_OK, EXIT_USAGE } from './exit-codes.ts';
import { listBenches, runBenchCommand } from './bench.ts';
import { configureSimCommand, runSim, type SimCommandOptions } from './sim.ts';
import { runUp } from './up.ts';
import { parsePositive } from './parse.ts';
import { configureGatewayCommand, runGateway, type GatewayCommandOptions } from './gateway.ts';
import { configureAuditCommand, runAudit } from './audit.ts';
import { configureStrategyCommand, runStrategy, type StrategyCommandOptions } from './strategy.ts';
import { configureMonitorCommand, runMonitor, type MonitorCommandOptions } from './monitor.ts';
import { configureExecutionCommand, runExecution, type ExecutionCommandOptions } from './execution.ts';
import { configureKillSwitchCommand, runKillSwitch, type KillSwitchAction, type KillSwitchOptions } from './kill-switch.ts';

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const defaultIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/**
 * Commands that exist in the design but are not built yet, with the issue that builds them
 * (undefined: the Kafka/history issue, not filed yet).
 */
const PLANNED: ReadonlyArray<{ name: string; summary: string; issue?: number; configure?: (cmd: Command) => void }> = [
  { name: 'replay', summary: 'replay archived market data into the live pipeline' },
  { name: 'backtest', summary: 'run a strategy over archived market data in one process' },
];

export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  let exitCode = EXIT_OK;
  const program = new Command('triquant')
    .description('triquant: a distributed quantitative trading system for China A-shares')
    .version(process.env.npm_package_version ?? '0.1.0', '-V, --version')
    .option('-c, --config <file>', 'configuration file merged over config/default.yaml (env: TRIQUANT_CONFIG)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });
  program.addHelpText(
    'after',
    '\nSettings: config/default.yaml, overridden by --config FILE and TRIQUANT__SECTION__KEY=value variables.\n' +
      'Each command has its own --help. Docs: README.md and docs/.',
  );

  const configFile = (): string | undefined => (program.opts<{ config?: string }>().config ?? process.env.TRIQUANT_CONFIG) || undefined;
  const config = (): Config => loadConfig({ file: configFile() });

  for (const planned of PLANNED) {
    const when = planned.issue === undefined ? 'the history (Kafka, replay, backtest) issue' : `issue #${planned.issue}`;
    const cmd = program.command(planned.name).description(`${planned.summary} [not built yet: ${when}]`);
    planned.configure?.(cmd);
    cmd.action(() => {
      io.err(`triquant ${planned.name}: not built yet; it arrives with ${when}. (${planned.summary})\n`);
      exitCode = EXIT_NOT_BUILT;
    });
  }

  program
    .command('up')
    .description('run the whole system on this machine: simulator, gateway, execution, the configured strategies and the dashboard, each its own process (paper trading)')
    .option('--duration <seconds>', 'stop by itself after this many seconds', parsePositive)
    .option('--summary-json <file>', 'write a JSON summary of the run to this file')
    .action(async (options: { duration?: number; summaryJson?: string }) => {
      const file = configFile();
      exitCode = await runUp({ ...options, ...(file !== undefined ? { configFile: file } : {}) }, config(), io);
    });

  configureGatewayCommand(
    program.command('gateway').description('run the market-data gateway: TCP feeds decoded into Redis Streams, resuming where Redis left off'),
  ).action(async (options: GatewayCommandOptions) => {
    exitCode = await runGateway(options, config());
  });

  configureSimCommand(
    program.command('sim').description('run the simulated A-share exchange: matching engine, synthetic market, TCP market-data feed, FIX 4.4 order entry'),
  ).action(async (options: SimCommandOptions) => {
    exitCode = await runSim(options, config());
  });

  configureStrategyCommand(
    program.command('strategy').description('run the configured strategy instances, one OS process each, restarted from their checkpoints'),
  ).action(async (options: StrategyCommandOptions) => {
    exitCode = await runStrategy(options, config());
  });

  configureMonitorCommand(
    program.command('monitor').description('run the monitoring dashboard (live web page, alerts, kill switch) over the services\' metrics, Redis and the Admin API'),
  ).action(async (options: MonitorCommandOptions) => {
    exitCode = await runMonitor(options, config());
  });

  configureExecutionCommand(
    program
      .command('execution')
      .description('run the risk & execution service: gRPC for strategies, pre-trade risk, OMS, FIX routing, kill switch, audit journal'),
  ).action(async (options: ExecutionCommandOptions) => {
    exitCode = await runExecution(options, config());
  });

  configureKillSwitchCommand(
    program.command('kill-switch').description('show or change the trading state (ACTIVE, REDUCING, HALTED) of the execution service'),
  ).action(async (action: KillSwitchAction, options: KillSwitchOptions) => {
    exitCode = await runKillSwitch(action, options, config(), io);
  });

  configureAuditCommand(
    program.command('audit').description('query, export (CSV, JSON) and verify the hash-chained audit journal'),
    async (options) => {
      exitCode = await runAudit(options, config(), io);
    },
  );

  program
    .command('config')
    .description('validate the configuration and print the effective settings as JSON (money in 0.0001 CNY units)')
    .action(() => {
      io.out(`${JSON.stringify(config(), null, 2)}\n`);
    });

  program
    .command('bench')
    .description('run a benchmark; with --json prints one JSON object per line, the last being the result')
    .argument('[name]', `benchmark to run: ${listBenches().join(', ')}`)
    .option('--json', 'print JSON lines instead of a table')
    .addOption(new Option('--duration <ms>', 'measuring time per phase in milliseconds').argParser(parsePositive))
    .option('--list', 'list the benchmarks')
    .action(async (name: string | undefined, options: { json?: boolean; duration?: number; list?: boolean }) => {
      exitCode = await runBenchCommand(name, options, io, config);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version arrive here too, with exit code 0.
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (error instanceof TriquantError) {
      io.err(`triquant: ${error.message}\n`);
      return error.code === 'CONFIG' ? EXIT_USAGE : EXIT_FAILURE;
    }
    io.err(`triquant: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT_FAILURE;
  }
}
