import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../../src/core/errors.ts';
import { DEFAULT_STRATEGIES_CONFIG, parseStrategiesConfig, planInstances, type StrategiesConfig } from '../../../src/strategy/host-config.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function config(run: unknown[]): StrategiesConfig {
  return parseStrategiesConfig({ ...DEFAULT_STRATEGIES_CONFIG, run });
}

async function configError(promise: Promise<unknown>, key: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ConfigError, `a ConfigError, got ${String(error)}`);
    assert.equal(error.key, key);
    assert.match(error.message, message);
    return true;
  });
}

const dualMa = { name: 'dual_ma', file: 'strategies/dual-ma.ts', symbols: ['600000.SH'], account: 'ACC1', params: { fast: 3 } };

test('entries expand into one plan per instance, with defaults, absolute files and tokens from the environment', async () => {
  const plans = await planInstances(config([{ ...dualMa, instances: 2 }, { ...dualMa, name: 'off', enabled: false }]), {
    projectRoot: ROOT,
    env: { TRIQUANT_TOKEN_DUAL_MA: 'secret' },
  });
  assert.deepEqual(plans.map((p) => p.key), ['dual_ma/i1', 'dual_ma/i2']);
  assert.equal(plans[0]!.file, join(ROOT, 'strategies/dual-ma.ts'));
  assert.equal(plans[0]!.definitionName, 'dual_ma');
  assert.equal(plans[0]!.token, 'secret');
  assert.deepEqual(plans[0]!.params, { fast: 3 });
});

test('a bad file, a module without a strategy, bad parameters and colliding ids are errors naming the key', async () => {
  await configError(planInstances(config([{ ...dualMa, file: 'strategies/nope.ts' }]), { projectRoot: ROOT }), 'strategies.run.0.file', /does not exist/);
  const dir = mkdtempSync(join(tmpdir(), 'tq-cfg-'));
  writeFileSync(join(dir, 'empty.ts'), 'export const x = 1;\n');
  await configError(planInstances(config([{ ...dualMa, file: join(dir, 'empty.ts') }]), { projectRoot: ROOT }), 'strategies.run.0.file', /exports no strategy/);
  await configError(planInstances(config([{ ...dualMa, params: { fast: -1 } }]), { projectRoot: ROOT }), 'strategies.run.0.params.fast', /./);
  await configError(planInstances(config([{ ...dualMa, params: { typo: 1 } }]), { projectRoot: ROOT }), 'strategies.run.0.params.typo', /unknown parameter/);
  await configError(planInstances(config([dualMa, { ...dualMa, name: 'dual_ma_b' }]), { projectRoot: ROOT }), 'strategies.run.1.instancePrefix', /collide/);
  await configError(planInstances(config([dualMa, dualMa]), { projectRoot: ROOT }), 'strategies.run.1.name', /unique/);
  await configError(planInstances(config([dualMa]), { projectRoot: ROOT, only: ['grid'] }), 'strategies.run', /no strategy named "grid"/);
  assert.throws(() => config([{ ...dualMa, instances: 0 }]), (e: unknown) => e instanceof ConfigError && e.key === 'strategies.run.0.instances');
  assert.throws(() => config([{ ...dualMa, colour: 'red' }]), (e: unknown) => e instanceof ConfigError && e.key === 'strategies.run.0.colour');
  // Two entries of one file with distinct instance prefixes are fine.
  const plans = await planInstances(config([dualMa, { ...dualMa, name: 'dual_ma_b', instancePrefix: 'b' }]), { projectRoot: ROOT });
  assert.deepEqual(plans.map((p) => p.key), ['dual_ma/i1', 'dual_ma_b/b1']);
});
