/**
 * ReferencePriceCache's lazy path (`onEntryFields`): entries are kept undecoded and only what
 * decides a symbol's state is decoded when it is asked for. The reference for every check is
 * the eager path it replaces: each entry decoded and applied in order (`decodeEntryFields` →
 * `onTick`/`onTrade`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_PENDING_ENTRIES, ReferencePriceCache } from '../../../src/execution/reference-prices.ts';
import { decodeEntryFields, encodeEntryFields } from '../../../src/bus/tick-codec.ts';
import type { FeedMarketData, TickCompression } from '../../../src/bus/tick-codec.ts';
import type { BookLevel, SnapshotMessage, TradeMessage, TradingPhase } from '../../../src/protocol/feed/frames.ts';
import { buildUniverse } from '../../../src/sim/universe.ts';

const SYMBOL = '600036.SH';
type Fields = (string | Buffer)[];

function levels(top: number, step: number, n: number): BookLevel[] {
  return Array.from({ length: n }, (_, i) => ({ price: top + i * step, qty: 100 * (i + 1), orders: i + 1 }));
}

function snapshot(seq: number, time: number, extra: Partial<SnapshotMessage> = {}): SnapshotMessage {
  const last = extra.lastPrice ?? 387_000;
  return {
    type: 'snapshot', channel: 1, seq, symbol: SYMBOL, eventTime: time, phase: 'CONTINUOUS',
    lastPrice: last, openPrice: 386_500, highPrice: 388_000, lowPrice: 385_000, prevClosePrice: 386_000,
    upperLimitPrice: 424_600, lowerLimitPrice: 347_400, volume: 1_000 * seq, turnover: 387_000_000 * seq,
    bids: levels(last - 100, -100, 10), asks: levels(last + 100, 100, 10), ...extra,
  };
}

function trade(seq: number, time: number, price: number, symbol = SYMBOL): TradeMessage {
  return { type: 'trade', channel: 1, seq, symbol, time, price, qty: 100, aggressor: 'BUY', buyOrderId: seq * 2, sellOrderId: seq * 2 + 1 };
}

/** An entry as XREAD returns it with ioredis's Buffer replies: every name and value a Buffer. */
function entry(messages: FeedMarketData[], receiveTimeUs: number | number[], compression: TickCompression = 'none'): Fields {
  return encodeEntryFields(messages, receiveTimeUs, compression).map((f) => Buffer.from(f));
}

/** The eager path the lazy one replaces. */
function eager(cache: ReferencePriceCache, fields: Fields): boolean {
  let messages;
  try {
    messages = decodeEntryFields(fields);
  } catch {
    return false;
  }
  for (const m of messages) {
    if (m.type === 'tick') cache.onTick(m.tick);
    else cache.onTrade(m.trade);
  }
  return true;
}

test('newest wins across entries read together; only the newest entry is decoded, and only when asked', () => {
  const cache = new ReferencePriceCache(buildUniverse());
  for (let i = 1; i <= 5; i++) cache.onEntryFields(SYMBOL, entry([snapshot(i * 2 - 1, i * 1_000), snapshot(i * 2, i * 1_000 + 10, { lastPrice: 380_000 + i })], i * 7_000));
  assert.deepEqual(cache.decodeStats, { entriesOffered: 5, entriesDecoded: 0, entriesSuperseded: 0, decodeErrors: 0, pendingEntries: 5 }, 'nothing decoded before anyone asks');
  const ref = cache.reference(SYMBOL)!;
  assert.equal(ref.last, 380_005, 'the last snapshot of the newest entry');
  assert.equal(ref.bid, 380_005 - 100);
  assert.equal(ref.ask, 380_005 + 100);
  assert.equal(ref.updatedAt, 35_000, 'freshness is the newest receive time');
  assert.deepEqual(cache.decodeStats, { entriesOffered: 5, entriesDecoded: 1, entriesSuperseded: 4, decodeErrors: 0, pendingEntries: 0 });
  assert.deepEqual(cache.marks(SYMBOL), { price: 380_005, prevClose: 386_000 });
  assert.equal(cache.decodeStats.entriesDecoded, 1, 'asking again decodes nothing more');
});

test('a trade after the newest snapshot moves last and freshness; a trade before it does not', () => {
  const cache = new ReferencePriceCache(buildUniverse());
  // One flush: trade 1, snapshot 2, trade 3 (the payload holds the snapshot first, then both trades).
  cache.onEntryFields(SYMBOL, entry([trade(1, 1_000, 381_000), snapshot(2, 1_100, { lastPrice: 382_000 }), trade(3, 1_200, 383_000)], [5_000, 5_100, 5_200]));
  let ref = cache.reference(SYMBOL)!;
  assert.deepEqual([ref.last, ref.bid, ref.ask, ref.updatedAt], [383_000, 381_900, 382_100, 5_200]);

  // Newest entry holds trades only: the snapshot of the entry before still decides the book.
  cache.onEntryFields(SYMBOL, entry([snapshot(4, 1_300, { lastPrice: 384_000 })], 6_000));
  cache.onEntryFields(SYMBOL, entry([trade(5, 1_400, 385_000), trade(6, 1_500, 385_500)], [7_000, 7_100]));
  ref = cache.reference(SYMBOL)!;
  assert.deepEqual([ref.last, ref.bid, ref.ask, ref.updatedAt], [385_500, 383_900, 384_100, 7_100]);
  assert.equal(cache.decodeStats.entriesDecoded, 3, 'the trades-only entry and the one with the snapshot before it');

  // A newest snapshot after the trades overrides them.
  cache.onEntryFields(SYMBOL, entry([trade(7, 1_600, 386_000)], 8_000));
  cache.onEntryFields(SYMBOL, entry([snapshot(8, 1_700, { lastPrice: 384_500 })], 9_000));
  ref = cache.reference(SYMBOL)!;
  assert.deepEqual([ref.last, ref.updatedAt], [384_500, 9_000]);
  assert.equal(cache.decodeStats.entriesSuperseded, 1);
});

test('an undecodable newest entry is counted and skipped: the good state before it stands', () => {
  const cache = new ReferencePriceCache(buildUniverse());
  const errors: unknown[] = [];
  cache.onUndecodableEntry((e) => errors.push(e));
  cache.onEntryFields(SYMBOL, entry([snapshot(1, 1_000, { lastPrice: 381_000 })], 5_000));
  const good = entry([snapshot(2, 2_000, { lastPrice: 382_000 })], 6_000);
  cache.onEntryFields(SYMBOL, good);
  // Truncated payload, bytes that are not a batch, an unknown entry type.
  const payload = good[3] as Buffer;
  cache.onEntryFields(SYMBOL, [Buffer.from('t'), Buffer.from('b'), Buffer.from('d'), payload.subarray(0, payload.length - 5)]);
  cache.onEntryFields(SYMBOL, [Buffer.from('t'), Buffer.from('b'), Buffer.from('d'), Buffer.from([0x0a, 0x03, 0x00, 0x00, 0x00])]);
  cache.onEntryFields(SYMBOL, [Buffer.from('t'), Buffer.from('x'), Buffer.from('d'), payload]);
  const ref = cache.reference(SYMBOL)!;
  assert.deepEqual([ref.last, ref.updatedAt], [382_000, 6_000]);
  assert.equal(cache.decodeStats.decodeErrors, 3);
  assert.equal(errors.length, 3);
  assert.equal(cache.decodeStats.entriesSuperseded, 1, 'the first entry was not needed');

  // Nothing good pending at all: the previous state stays; an entry without a payload is counted at once.
  cache.onEntryFields(SYMBOL, [Buffer.from('t'), Buffer.from('b')]);
  assert.equal(cache.decodeErrors, 4);
  cache.onEntryFields(SYMBOL, [Buffer.from('t'), Buffer.from('b'), Buffer.from('d'), Buffer.alloc(0)]);
  assert.equal(cache.reference(SYMBOL)!.last, 382_000);
  assert.equal(cache.decodeErrors, 5, 'an empty batch holds no messages');
});

test('a newest snapshot that does not decide alone replays the pending entries in order', () => {
  // A halt keeps the phase before it: the entry before the halt decides the phase.
  const cache = new ReferencePriceCache(buildUniverse());
  cache.onEntryFields(SYMBOL, entry([snapshot(1, 1_000, { phase: 'CONTINUOUS' })], 5_000));
  assert.equal(cache.reference(SYMBOL)!.phase, 'CONTINUOUS');
  cache.onEntryFields(SYMBOL, entry([snapshot(2, 2_000, { phase: 'CLOSING_CALL' })], 6_000));
  cache.onEntryFields(SYMBOL, entry([snapshot(3, 3_000, { phase: 'HALTED' })], 7_000));
  const ref = cache.reference(SYMBOL)!;
  assert.deepEqual([ref.phase, ref.halted], ['CLOSING_CALL', true]);
  assert.equal(cache.decodeStats.entriesSuperseded, 0);

  // First state of a symbol without reference data: its instrument comes from the first tick.
  const bare = new ReferencePriceCache();
  bare.onEntryFields(SYMBOL, entry([snapshot(1, 1_000, { prevClosePrice: 300_000 })], 5_000));
  bare.onEntryFields(SYMBOL, entry([snapshot(2, 2_000, { prevClosePrice: 310_000 })], 6_000));
  assert.equal(bare.reference(SYMBOL)!.instrument.previousClose, 300_000);
  assert.equal(bare.reference(SYMBOL)!.prevClose, 310_000);
});

test('older ticks never overwrite newer state, whichever path brought them', () => {
  const cache = new ReferencePriceCache(buildUniverse());
  cache.onEntryFields(SYMBOL, entry([snapshot(5, 5_000, { lastPrice: 385_000 })], 9_000));
  assert.equal(cache.reference(SYMBOL)!.last, 385_000);
  cache.onEntryFields(SYMBOL, entry([snapshot(6, 4_000, { lastPrice: 1_000 }), trade(7, 4_500, 2_000)], 9_500));
  const ref = cache.reference(SYMBOL)!;
  assert.deepEqual([ref.last, ref.updatedAt], [385_000, 9_000]);
});

test('pending entries are bounded without anyone asking; symbols() and direct ticks settle them first', () => {
  const cache = new ReferencePriceCache(buildUniverse());
  for (let i = 1; i <= 200; i++) cache.onEntryFields(SYMBOL, entry([snapshot(i, i * 1_000, { lastPrice: 300_000 + i })], i));
  const stats = cache.decodeStats;
  assert.ok(stats.pendingEntries <= MAX_PENDING_ENTRIES, `pending ${stats.pendingEntries}`);
  assert.ok(stats.entriesDecoded <= Math.ceil(200 / MAX_PENDING_ENTRIES), `decoded ${stats.entriesDecoded}`);
  assert.equal(stats.entriesDecoded + stats.entriesSuperseded + stats.pendingEntries, 200);

  const other = '000001.SZ';
  cache.onEntryFields(other, entry([{ ...snapshot(1, 1_000), symbol: other, prevClosePrice: 110_000 }], 1));
  assert.deepEqual(cache.symbols(), [other, SYMBOL]);
  assert.equal(cache.decodeStats.pendingEntries, 0);
  assert.equal(cache.reference(SYMBOL)!.last, 300_200);

  // A direct onTick/onTrade comes after entries received before it.
  cache.onEntryFields(SYMBOL, entry([snapshot(201, 201_000, { lastPrice: 301_000 })], 2));
  cache.onTrade({ symbol: SYMBOL, channel: 1, seq: 202, eventTimeUs: 202_000, receiveTimeUs: 3, price: 302_000, quantity: 100, aggressorSide: 1, buyOrderRef: 0, sellOrderRef: 0 });
  assert.equal(cache.reference(SYMBOL)!.last, 302_000);
});

test('string field values (latin1) and compressed payloads decode like Buffers', () => {
  for (const compression of ['none', 'gzip', 'deflate'] as const) {
    const cache = new ReferencePriceCache(buildUniverse());
    const fields = encodeEntryFields([snapshot(1, 1_000), trade(2, 1_100, 388_800)], 5_000, compression)
      .map((f) => (typeof f === 'string' ? f : f.toString('latin1')));
    cache.onEntryFields(SYMBOL, fields);
    assert.equal(cache.reference(SYMBOL)!.last, 388_800, compression);
  }
});

test('the lazy path ends in the same state as decoding every entry (random feeds, corrupt and compressed entries)', () => {
  let seed = 12345;
  const rand = (n: number) => {
    // mulberry32: small, deterministic, well spread
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
  const phases: TradingPhase[] = ['CONTINUOUS', 'CONTINUOUS', 'CONTINUOUS', 'CONTINUOUS', 'CONTINUOUS', 'OPENING_CALL', 'CLOSED', 'HALTED'];
  const symbols = ['600036.SH', '000001.SZ', '688001.SH'];
  const compressions: TickCompression[] = ['none', 'none', 'none', 'gzip', 'deflate'];
  let superseded = 0;
  let offered = 0;
  for (let run = 0; run < 60; run++) {
    const withUniverse = run % 2 === 0;
    const lazy = new ReferencePriceCache(withUniverse ? buildUniverse() : []);
    const eagerCache = new ReferencePriceCache(withUniverse ? buildUniverse() : []);
    const seqs = new Map<string, number>();
    let time = 1_000;
    for (let step = 0; step < 120; step++) {
      const symbol = symbols[rand(symbols.length)]!;
      const messages: FeedMarketData[] = [];
      const count = 1 + rand(5);
      for (let i = 0; i < count; i++) {
        const seq = (seqs.get(symbol) ?? 0) + 1;
        seqs.set(symbol, seq);
        time += rand(3) * 100; // venue time never goes back (equal times happen)
        const price = 380_000 + rand(2_000);
        if (rand(3) === 0) messages.push(trade(seq, time, price, symbol));
        else {
          const phase = phases[rand(phases.length)]!;
          messages.push({ ...snapshot(seq, time, { lastPrice: rand(5) === 0 ? 0 : price, phase, prevClosePrice: rand(10) === 0 ? 0 : 386_000 }), symbol, bids: levels(price - 100, -100, rand(11)) });
        }
      }
      let fields = entry(messages, time + 7, compressions[rand(compressions.length)]!);
      if (rand(8) === 0) {
        const data = Buffer.from(fields[3] as Buffer);
        fields = [...fields.slice(0, 3), rand(2) === 0 ? data.subarray(0, data.length - 1 - rand(data.length)) : data.fill(0xff, rand(data.length))];
      }
      eager(eagerCache, fields);
      lazy.onEntryFields(symbol, fields);
      if (rand(10) === 0) {
        const asked = symbols[rand(symbols.length)]!;
        assert.deepEqual(lazy.reference(asked), eagerCache.reference(asked), `run ${run} step ${step} ${asked}`);
      }
    }
    for (const symbol of symbols) {
      assert.deepEqual(lazy.reference(symbol), eagerCache.reference(symbol), `run ${run} ${symbol}`);
      assert.deepEqual(lazy.marks(symbol), eagerCache.marks(symbol));
    }
    assert.deepEqual(lazy.symbols(), eagerCache.symbols());
    const stats = lazy.decodeStats;
    assert.equal(stats.pendingEntries, 0);
    assert.equal(stats.entriesDecoded + stats.entriesSuperseded, stats.entriesOffered, 'every entry decoded (or failed) or superseded');
    superseded += stats.entriesSuperseded;
    offered += stats.entriesOffered;
  }
  assert.ok(superseded > offered / 4, `the fast path ran: ${superseded} of ${offered} entries superseded`);
});

test('markMaxAgeMs: marks within the age use the state last decoded; reference is always current; past the age marks decode', async () => {
  const slow = new ReferencePriceCache(buildUniverse(), { markMaxAgeMs: 60_000 });
  slow.onEntryFields(SYMBOL, entry([snapshot(1, 1_000, { lastPrice: 381_000 })], 5_000));
  assert.equal(slow.marks(SYMBOL)!.price, 381_000, 'a symbol never decoded is decoded for its first mark');
  slow.onEntryFields(SYMBOL, entry([snapshot(2, 2_000, { lastPrice: 382_000 })], 6_000));
  assert.equal(slow.marks(SYMBOL)!.price, 381_000, 'within the age: the mark last decoded, nothing decoded');
  assert.equal(slow.decodeStats.pendingEntries, 1);
  assert.equal(slow.reference(SYMBOL)!.last, 382_000, 'reference decodes what is pending');
  assert.equal(slow.marks(SYMBOL)!.price, 382_000);
  slow.onEntryFields(SYMBOL, entry([snapshot(3, 3_000, { lastPrice: 383_000 })], 7_000));
  slow.refreshMarks(); // what the tail does after each read
  assert.equal(slow.decodeStats.pendingEntries, 0, 'a marked symbol is decoded by refreshMarks');
  assert.equal(slow.marks(SYMBOL)!.price, 383_000);

  const quick = new ReferencePriceCache(buildUniverse(), { markMaxAgeMs: 1 });
  quick.onEntryFields(SYMBOL, entry([snapshot(1, 1_000, { lastPrice: 381_000 })], 5_000));
  assert.equal(quick.marks(SYMBOL)!.price, 381_000);
  quick.onEntryFields(SYMBOL, entry([snapshot(2, 2_000, { lastPrice: 382_000 })], 6_000));
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(quick.marks(SYMBOL)!.price, 382_000, 'past the age the mark is decoded again');

  const exact = new ReferencePriceCache(buildUniverse());
  exact.onEntryFields(SYMBOL, entry([snapshot(1, 1_000, { lastPrice: 381_000 })], 5_000));
  assert.equal(exact.marks(SYMBOL)!.price, 381_000);
  exact.onEntryFields(SYMBOL, entry([snapshot(2, 2_000, { lastPrice: 382_000 })], 6_000));
  assert.equal(exact.marks(SYMBOL)!.price, 382_000, 'default 0: every mark is current');
});
