import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Simulator } from '../../src/sim/simulator.ts';
import { buildUniverse } from '../../src/sim/universe.ts';
import { DEFAULT_ORDER_FLOW } from '../../src/sim/order-flow.ts';
import { TradingCalendar } from '../../src/core/calendar.ts';
import { LiveClock } from '../../src/core/clock.ts';
import { createServiceRegistry, startMetricsServer } from '../../src/obs/metrics.ts';

test('the simulator exposes Prometheus metrics on /metrics', async () => {
  const registry = createServiceRegistry('sim');
  const sim = new Simulator({
    clock: new LiveClock(), calendar: new TradingCalendar(), instruments: buildUniverse(), seed: 2, registry,
    timeMode: { kind: 'continuous' }, flow: { ...DEFAULT_ORDER_FLOW, arrivalsPerSecond: 500 },
  });
  await sim.start();
  const metrics = await startMetricsServer(registry, '127.0.0.1', 0);
  try {
    const deadline = Date.now() + 5_000;
    while (sim.stats().trades === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const response = await fetch(metrics.url);
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.match(text, /^triquant_sim_trades_total\{service="sim"\} [1-9]\d*$/m);
    assert.match(text, /^triquant_sim_market_data_events_total\{type="snapshot",service="sim"\} [1-9]\d*$/m);
    assert.match(text, /^triquant_sim_feed_malformed_frames\{service="sim"\} 0$/m);
    assert.match(text, /^triquant_process_resident_memory_bytes/m);
    assert.equal((await fetch(metrics.url.replace('/metrics', '/healthz'))).status, 200);
    assert.equal((await fetch(metrics.url.replace('/metrics', '/nope'))).status, 404);
  } finally {
    await metrics.close();
    await sim.close();
  }
});
