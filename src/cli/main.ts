/**
 * The `triquant` command: parses the command line, loads the configuration, and wires the
 * services together. The only module allowed to import every service.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
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

/** Commands that exist in the design but are not built yet (they arrive with the history issue). */
const PLANNED: ReadonlyArray<{ name: string; summary: string }> = [
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

  const when = 'the history (Kafka, replay, backtest) issue';
  for (const planned of PLANNED) {
    program.command(planned.name).description(`${planned.summary} [not built yet: ${when}]`).action(() => {
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

  // A long-running service: its own options, then run with the loaded config.
  const service = <Options>(name: string, description: string, configure: (cmd: Command) => Command, run: (options: Options, config: Config) => Promise<number>) => {
    configure(program.command(name).description(description)).action(async (options: Options) => {
      exitCode = await run(options, config());
    });
  };
  service<GatewayCommandOptions>('gateway', 'run the market-data gateway: TCP feeds decoded into Redis Streams, resuming where Redis left off', configureGatewayCommand, runGateway);
  service<SimCommandOptions>('sim', 'run the simulated A-share exchange: matching engine, synthetic market, TCP market-data feed, FIX 4.4 order entry', configureSimCommand, runSim);
  service<StrategyCommandOptions>('strategy', 'run the configured strategy instances, one OS process each, restarted from their checkpoints', configureStrategyCommand, runStrategy);
  service<MonitorCommandOptions>(
    'monitor',
    'run the monitoring dashboard (live web page, alerts, kill switch) over the services\' metrics, Redis and the Admin API',
    configureMonitorCommand,
    runMonitor,
  );
  service<ExecutionCommandOptions>(
    'execution',
    'run the risk & execution service: gRPC for strategies, pre-trade risk, OMS, FIX routing, kill switch, audit journal',
    configureExecutionCommand,
    runExecution,
  );

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
    // Thrown by a command's own checks after parsing (commander prints only its own errors).
    if (error instanceof InvalidArgumentError) {
      io.err(`triquant: ${error.message}\n(run with --help for usage)\n`);
      return EXIT_USAGE;
    }
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
