/**
 * `triquant kill-switch [status|halt|reduce|resume]`: shows or changes the trading state of
 * the execution service through its Admin gRPC API (the change is journaled with --actor and
 * --reason, announced to the strategies, and HALTED cancels every working order in scope).
 */
import * as grpc from '@grpc/grpc-js';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { ConfigError } from '../core/errors.ts';
import type { Config } from '../config/schema.ts';
import { resolveAdminToken } from '../execution/service.ts';
import { AdminClient, type GetTradingStateResponse } from '../protocol/gen/triquant/v1/admin.ts';
import { Scope, TradingState, type TradingStateRecord } from '../protocol/gen/triquant/v1/common.ts';
import { TRADING_STATE } from '../protocol/trading-enums.ts';
import { EXIT_FAILURE, EXIT_OK } from './exit-codes.ts';
import { configuredExecutionAddress } from './execution.ts';
import { parseAddress } from './parse.ts';
import type { CliIo } from './main.ts';

export type KillSwitchAction = 'status' | 'halt' | 'reduce' | 'resume';

export interface KillSwitchOptions {
  account?: string;
  actor?: string;
  reason?: string;
  target?: string;
  token?: string;
  json?: boolean;
  /** Give up after this many ms (default 10 s). */
  timeoutMs?: number;
}

const ACTION_STATE: Readonly<Record<Exclude<KillSwitchAction, 'status'>, TradingState>> = {
  halt: TradingState.HALTED,
  reduce: TradingState.REDUCING,
  resume: TradingState.ACTIVE,
};

export function configureKillSwitchCommand(cmd: Command): Command {
  return cmd
    .argument('[action]', 'status (default) | halt | reduce | resume', parseAction, 'status')
    .option('--account <id>', 'only this account (default: the global state of every account)')
    .option('--actor <name>', 'who acts (journaled; required to change the state)')
    .option('--reason <text>', 'why (journaled; required to change the state)')
    .option('--target <host:port>', 'the execution service gRPC address (default: config execution.host:execution.grpcPort, else the address a running service wrote under dataDir)', parseAddress)
    .option('--token <token>', 'admin token (default: config execution.adminToken / TRIQUANT__EXECUTION__ADMIN_TOKEN, else the paper-mode token file)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nhalt: no new orders, working orders cancelled. reduce: only position-reducing orders. resume: ACTIVE.\n' +
        'An account is as strict as the stricter of its own state and the global one. Details: docs/execution.md.',
    );
}

export async function runKillSwitch(action: KillSwitchAction, options: KillSwitchOptions, config: Config, io: CliIo): Promise<number> {
  const target = options.target ?? configuredExecutionAddress(config);
  if (target === undefined) {
    throw new ConfigError(
      'execution.grpcPort',
      'the execution service address is unknown (grpcPort 0 = a free port, and no running service wrote <dataDir>/execution/grpc-address): pass --target host:port',
    );
  }
  const token = options.token ?? resolveAdminToken(config, config.dataDir, false);
  if (token === undefined || token === '') {
    throw new ConfigError('execution.adminToken', 'no admin token: pass --token, set TRIQUANT__EXECUTION__ADMIN_TOKEN, or run where the paper-mode token file is');
  }
  if (action !== 'status' && (!options.actor || !options.reason)) {
    throw new InvalidArgumentError('changing the trading state needs --actor NAME and --reason TEXT (both are journaled)');
  }
  const client = new AdminClient(target, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  const deadline = () => ({ deadline: Date.now() + (options.timeoutMs ?? 10_000) });
  try {
    if (action === 'status') {
      const response = await new Promise<GetTradingStateResponse>((resolve, reject) =>
        client.getTradingState({ account: options.account ?? '' }, metadata, deadline(), (error, r) => (error ? reject(error) : resolve(r))),
      );
      if (options.json) io.out(`${JSON.stringify({ global: plain(response.globalState), accounts: response.accountStates.map(plain) })}\n`);
      else {
        io.out(`global: ${describe(response.globalState)}\n`);
        for (const record of response.accountStates) io.out(`${record.account}: ${describe(record)}\n`);
      }
      return EXIT_OK;
    }
    const response = await new Promise<{ previous?: TradingStateRecord | undefined; current?: TradingStateRecord | undefined }>((resolve, reject) =>
      client.setKillSwitch(
        {
          scope: options.account ? Scope.ACCOUNT : Scope.GLOBAL, account: options.account ?? '', state: ACTION_STATE[action],
          actor: options.actor!, reason: options.reason!,
        },
        metadata, deadline(), (error, r) => (error ? reject(error) : resolve(r)),
      ),
    );
    if (options.json) io.out(`${JSON.stringify({ previous: plain(response.previous), current: plain(response.current) })}\n`);
    else io.out(`${options.account ?? 'global'}: ${TRADING_STATE.fromProto.get(response.previous?.state ?? 0) ?? '?'} → ${describe(response.current)}\n`);
    return EXIT_OK;
  } catch (error) {
    const e = error as grpc.ServiceError;
    if (typeof e.code === 'number') {
      io.err(`triquant kill-switch: ${grpc.status[e.code] ?? e.code}: ${e.details || e.message}\n`);
      return EXIT_FAILURE;
    }
    throw error;
  } finally {
    client.close();
  }
}

function describe(record: TradingStateRecord | undefined): string {
  if (record === undefined) return '?';
  const when = record.changedTimeUs > 0 ? new Date(Math.floor(record.changedTimeUs / 1000)).toISOString() : 'never changed';
  return `${TRADING_STATE.fromProto.get(record.state) ?? '?'} (by ${record.actor || '?'}: ${record.reason || '-'}; ${when})`;
}

function plain(record: TradingStateRecord | undefined): Record<string, unknown> | null {
  if (record === undefined) return null;
  return {
    scope: record.scope === Scope.GLOBAL ? 'GLOBAL' : 'ACCOUNT', account: record.account, state: TRADING_STATE.fromProto.get(record.state) ?? 'UNSPECIFIED',
    actor: record.actor, reason: record.reason, changedTimeUs: record.changedTimeUs,
  };
}

function parseAction(value: string): KillSwitchAction {
  if (value === 'status' || value === 'halt' || value === 'reduce' || value === 'resume') return value;
  throw new InvalidArgumentError(`expected status, halt, reduce or resume, got "${value}"`);
}
