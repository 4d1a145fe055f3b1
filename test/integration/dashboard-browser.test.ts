/**
 * The real dashboard in headless Chromium (Debian's `chromium`, driven by playwright-core)
 * against the real system started by `triquant up`: numbers update live over the event
 * stream (no reload), the kill switch is refused without the admin token, and with it trading
 * halts, the working orders are cancelled in the blotter and the change is in the audit tail.
 *
 * TRIQUANT_UPDATE_SCREENSHOT=1 also writes docs/images/dashboard.png (taken while trading is
 * ACTIVE, before the kill switch), so CI never modifies the tree.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type Browser, type Page } from 'playwright-core';
import { redisServerAvailable } from '../support/redis-server.ts';

const BIN = fileURLToPath(new URL('../../bin/triquant.js', import.meta.url));
const SCREENSHOT = fileURLToPath(new URL('../../docs/images/dashboard.png', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const WORKING = new Set(['SENT', 'ACCEPTED', 'PARTIALLY_FILLED']);

function skipReason(): string | false {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is missing (scripts/provision.sh installs Debian's chromium)`;
  if (!redisServerAvailable()) return 'redis-server is not installed (scripts/provision.sh installs it)';
  return false;
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

const numberOf = async (page: Page, testId: string): Promise<number> =>
  Number((await page.getByTestId(testId).textContent())?.replace(/[^0-9.-]/g, '') ?? NaN);

/** Blotter rows as { order id → status }. */
async function blotter(page: Page): Promise<Map<string, string>> {
  const rows = await page.locator('[data-testid=blotter] tr').evaluateAll((trs) =>
    trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
  );
  // Columns: time, order, strategy, account, symbol, side, type, price, qty, filled, avg, status, text.
  return new Map(rows.map((cells) => [cells[1] ?? '', cells[11] ?? '']));
}

test('the dashboard updates live and its kill switch needs the admin token, halts trading and cancels working orders', { skip: skipReason(), timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tq-dash-'));
  const dataDir = join(dir, 'data');
  let up: ChildProcess | undefined;
  let browser: Browser | undefined;
  let stderr = '';
  try {
    up = spawn(process.execPath, [BIN, 'up', '--duration', '150'], {
      env: { ...process.env, TRIQUANT__DATA_DIR: dataDir, TRIQUANT__MONITOR__PORT: '0', TRIQUANT__LOG_LEVEL: 'info' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    up.stderr!.setEncoding('utf8');
    up.stderr!.on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => up!.once('exit', (code) => resolve(code)));
    const url = await until('the dashboard URL', async () => /dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stderr)?.[1] ?? (up!.exitCode !== null ? 'exited' : undefined), 60_000);
    assert.notEqual(url, 'exited', `triquant up exited while starting:\n${stderr.slice(-3000)}`);

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    await page.goto(url);
    await until('the event stream', async () => (await page.getByTestId('connection').textContent()) === 'live');
    // A marker on the window: it would vanish if the page were reloaded.
    await page.evaluate(() => ((globalThis as unknown as { triquantMarker: number }).triquantMarker = 42));

    // Live: the published tick count grows between two reads, pushed without any reload.
    const first = await until('ticks published', async () => ((await numberOf(page, 'ticks-total')) > 0 ? numberOf(page, 'ticks-total') : undefined));
    const second = await until('ticks published to grow', async () => {
      const n = await numberOf(page, 'ticks-total');
      return n > first ? n : undefined;
    });
    assert.ok(second > first);
    assert.equal(await page.evaluate(() => (globalThis as unknown as { triquantMarker?: number }).triquantMarker), 42, 'the page was updated in place, not reloaded');
    assert.equal(await page.getByTestId('trading-state').textContent(), 'trading ACTIVE');

    // The grid strategy keeps resting limit orders: wait for a working one in the blotter.
    const working = await until('a working order in the blotter', async () => {
      const ids = [...(await blotter(page))].filter(([, status]) => WORKING.has(status)).map(([id]) => id);
      return ids.length > 0 ? ids : undefined;
    }, 60_000);

    if (process.env.TRIQUANT_UPDATE_SCREENSHOT === '1') {
      // Let the charts fill a little and show some fills before the picture.
      await until('a filled order', async () => [...(await blotter(page)).values()].includes('FILLED'), 60_000);
      await sleep(20_000);
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    }

    // Without a token: refused, and trading stays ACTIVE.
    await page.getByTestId('ks-actor').fill('browser-test');
    await page.getByTestId('ks-reason').fill('kill switch drill');
    await page.getByTestId('ks-halt').click();
    const refused = await until('the refusal', async () => {
      const text = (await page.getByTestId('ks-result').textContent()) ?? '';
      return text.startsWith('refused') ? text : undefined;
    });
    assert.match(refused, /refused \(401\).*admin token/);
    await sleep(1_500);
    assert.equal(await page.getByTestId('trading-state').textContent(), 'trading ACTIVE');

    // With the paper admin token: HALTED, working orders cancelled, audited.
    const token = readFileSync(join(dataDir, 'execution', 'admin-token'), 'utf8').trim();
    await page.getByTestId('ks-token').fill(token);
    await page.getByTestId('ks-halt').click();
    await until('the HALT to be confirmed', async () => (await page.getByTestId('ks-result').textContent()) === 'trading state is now HALTED');
    await until('the header to show HALTED', async () => (await page.getByTestId('trading-state').textContent()) === 'trading HALTED');
    const after = await until('the working orders to be cancelled', async () => {
      const rows = await blotter(page);
      return working.every((id) => !WORKING.has(rows.get(id) ?? '') && rows.get(id) !== 'PENDING_CANCEL') ? rows : undefined;
    });
    const cancelled = working.filter((id) => after.get(id) === 'CANCELLED');
    // An order may have filled in the meantime; the rest must show CANCELLED.
    assert.ok(cancelled.length > 0, `working orders ${working.join(', ')} now: ${working.map((id) => after.get(id)).join(', ')}`);
    for (const id of working) assert.ok(['CANCELLED', 'FILLED'].includes(after.get(id) ?? ''), `${id} is ${after.get(id)}`);
    // Kept in view even while the strategies' retries (denied: halted) scroll the latest entries.
    await until('the TRADING_STATE audit entry', async () => {
      const rows = await page.locator('[data-testid=audit-changes] tr').allTextContents();
      return rows.some((r) => r.includes('TRADING_STATE') && r.includes('browser-test'));
    });
    assert.match((await page.getByTestId('alerts').textContent()) ?? '', /trading is HALTED/);
    assert.match((await page.getByTestId('ks-current').textContent()) ?? '', /HALTED.*browser-test: kill switch drill/);

    await browser.close();
    browser = undefined;
    up.kill('SIGTERM');
    assert.equal(await exited, 0, `triquant up stopped cleanly:\n${stderr.slice(-3000)}`);
    up = undefined;
  } finally {
    await browser?.close();
    if (up && up.exitCode === null) up.kill('SIGTERM');
  }
});
