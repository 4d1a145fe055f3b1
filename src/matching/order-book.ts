/**
 * One symbol's order book and its matching: price-time priority continuous double auction,
 * call-auction accumulation and uncross, the price cage's held orders, and the day's
 * statistics.
 *
 * Data structure. The day's price band is bounded, so each side is a ladder: an array of
 * price levels indexed by (price − lowest valid price) / tick, plus a bitmap of the non-empty
 * levels (one bit per tick in a Uint32Array). The best price is a cached index; when its level
 * empties, the next one is found a 32-level word at a time (Math.clz32), so even a sparse book
 * of a 1,500 CNY stock (30,000 ticks in its band) costs a few dozen word reads. Each level is a
 * FIFO doubly linked list of orders (O(1) append, O(1) removal anywhere for cancels) with its
 * total quantity and order count kept up to date for snapshots and auctions. Level objects are
 * created on first use and kept for the day, so a busy book allocates only its orders and trades.
 *
 * The engine (engine.ts) owns the books, the id counters and the event sink, and validates
 * orders before a book sees them; the book does the type-specific work.
 */
import type { Micros } from '../core/clock.ts';
import type { Board, Instrument, Side } from '../core/instruments.ts';
import type { LotSettings } from '../core/lot-rules.ts';
import type { OrderType } from '../core/order.ts';
import type { CageQuote, PriceBand, PriceCageSettings } from '../core/price-rules.ts';
import type { Phase } from '../core/sessions.ts';
import type { MatchingEvents } from './events.ts';
import type {
  AggressorSide,
  AuctionResult,
  BookLevel,
  BookSnapshot,
  CancelReason,
  OrderRequest,
  OrderView,
  SubmitRejectReason,
  Trade,
  VenueOrderId,
  VenueOrderStatus,
} from './types.ts';
import type { ValidationContext } from './validation.ts';
import { buyCageCeiling, cageReference, sellCageFloor, TICK } from '../core/price-rules.ts';
import { isCallAuction, isContinuous } from '../core/sessions.ts';
import { divRoundHalfUp, type Money, type Price, type Qty } from '../core/units.ts';
import { computeUncross } from './auction.ts';
import { cageCheck } from './validation.ts';

// ---------------------------------------------------------------------------------------------
// Orders and levels

/** The engine's order: the mutable object behind `OrderView`, linked into its price level. */
export class BookOrder implements OrderView {
  readonly id: VenueOrderId;
  readonly symbol: string;
  readonly side: Side;
  readonly orderType: OrderType;
  readonly price: Price;
  readonly quantity: Qty;
  readonly account: string;
  readonly clientOrderId: string | undefined;
  readonly acceptedAt: Micros;
  readonly isBuy: boolean;
  readonly book: OrderBook;
  bookPrice: Price = 0;
  status: VenueOrderStatus = 'NEW';
  cumQty: Qty = 0;
  leavesQty: Qty;
  cancelledQty: Qty = 0;
  notional: Money = 0;
  held = false;
  // Intrusive FIFO links of the order's price level.
  level: PriceLevel | null = null;
  prev: BookOrder | null = null;
  next: BookOrder | null = null;

  constructor(id: VenueOrderId, request: OrderRequest, book: OrderBook, time: Micros) {
    this.id = id;
    this.symbol = book.symbol;
    this.side = request.side;
    this.orderType = request.orderType;
    this.price = request.price;
    this.quantity = request.quantity;
    this.account = request.account;
    this.clientOrderId = request.clientOrderId;
    this.acceptedAt = time;
    this.isBuy = request.side === 'BUY';
    this.book = book;
    this.leavesQty = request.quantity;
  }

  get avgPrice(): Price {
    return this.cumQty === 0 ? 0 : divRoundHalfUp(this.notional, this.cumQty);
  }
}

export class PriceLevel {
  readonly price: Price;
  readonly index: number;
  /** Σ leavesQty of the orders at this level. */
  qty: Qty = 0;
  count = 0;
  head: BookOrder | null = null;
  tail: BookOrder | null = null;

  constructor(price: Price, index: number) {
    this.price = price;
    this.index = index;
  }
}

// Bitmap scans: the highest set index ≤ from, and the lowest set index ≥ from (−1 if none).
function scanDown(bits: Uint32Array, from: number): number {
  if (from < 0) return -1;
  let w = from >>> 5;
  // (2 << 31) − 1 wraps to −1 (all ones) in int32, which is what position 31 needs.
  let word = bits[w]! & ((2 << (from & 31)) - 1);
  for (;;) {
    if (word !== 0) return (w << 5) + 31 - Math.clz32(word);
    w -= 1;
    if (w < 0) return -1;
    word = bits[w]!;
  }
}

function scanUp(bits: Uint32Array, from: number): number {
  let w = from >>> 5;
  if (w >= bits.length) return -1;
  let word = bits[w]! & (-1 << (from & 31));
  for (;;) {
    if (word !== 0) return (w << 5) + 31 - Math.clz32(word & -word);
    w += 1;
    if (w >= bits.length) return -1;
    word = bits[w]!;
  }
}

/** One side of the book: the ladder of levels, the bitmap, and the cached best index. */
export class BookSide {
  readonly isBuy: boolean;
  readonly minPrice: Price;
  readonly size: number;
  readonly levels: (PriceLevel | null)[];
  readonly bits: Uint32Array;
  /** Index of the best level, −1 when the side is empty. */
  best = -1;
  orderCount = 0;
  levelCount = 0;

  constructor(isBuy: boolean, minPrice: Price, size: number) {
    this.isBuy = isBuy;
    this.minPrice = minPrice;
    this.size = size;
    this.levels = new Array<PriceLevel | null>(size).fill(null);
    this.bits = new Uint32Array((size + 31) >>> 5);
  }

  /** The next level index after `index`, away from the best (−1 if none). */
  worse(index: number): number {
    return this.isBuy ? scanDown(this.bits, index - 1) : scanUp(this.bits, index + 1);
  }

  bestPrice(): Price {
    return this.best < 0 ? 0 : this.levels[this.best]!.price;
  }

  bestLevel(): PriceLevel | null {
    return this.best < 0 ? null : this.levels[this.best]!;
  }

  append(order: BookOrder, index: number): void {
    let level = this.levels[index]!;
    if (level === null) {
      level = new PriceLevel(this.minPrice + index * TICK, index);
      this.levels[index] = level;
    }
    if (level.count === 0) {
      this.bits[index >>> 5]! |= 1 << (index & 31);
      this.levelCount += 1;
      if (this.best < 0 || (this.isBuy ? index > this.best : index < this.best)) this.best = index;
    }
    const tail = level.tail;
    order.prev = tail;
    order.next = null;
    if (tail === null) level.head = order;
    else tail.next = order;
    level.tail = order;
    order.level = level;
    level.count += 1;
    level.qty += order.leavesQty;
    this.orderCount += 1;
  }

  /**
   * Takes an order off its level; its current leavesQty leaves the level's total (a filled
   * order has 0 left: the fill already took its quantity off). Clears an emptied level.
   */
  unlink(order: BookOrder): void {
    const level = order.level!;
    const prev = order.prev;
    const next = order.next;
    if (prev === null) level.head = next;
    else prev.next = next;
    if (next === null) level.tail = prev;
    else next.prev = prev;
    order.prev = null;
    order.next = null;
    order.level = null;
    level.count -= 1;
    level.qty -= order.leavesQty;
    this.orderCount -= 1;
    if (level.count === 0) {
      const index = level.index;
      this.bits[index >>> 5]! &= ~(1 << (index & 31));
      this.levelCount -= 1;
      if (index === this.best) this.best = this.worse(index);
    }
  }

  /** Up to `depth` aggregated levels, best first. */
  topLevels(depth: number): BookLevel[] {
    const out: BookLevel[] = [];
    for (let index = this.best; index >= 0 && out.length < depth; index = this.worse(index)) {
      const level = this.levels[index]!;
      out.push({ price: level.price, qty: level.qty, orders: level.count });
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Working orders by id

const PAGE_BITS = 12;
const PAGE_SIZE = 1 << PAGE_BITS;
const PAGE_MASK = PAGE_SIZE - 1;

/**
 * Working orders by venue id. Ids are issued in sequence, so instead of a hash map this is
 * an array of pages of 4,096 slots indexed by id: a lookup is two array reads, nothing is
 * hashed or rehashed, and a page is dropped once every id in it is issued and done. (A few
 * long-lived orders pin their pages: 32 KiB each at most.)
 */
export class OrderIndex {
  private readonly pages: ((BookOrder | null)[] | null)[] = [];
  private readonly live: number[] = [];
  size = 0;

  get(id: VenueOrderId): BookOrder | undefined {
    // Not a uint32 (negative, fractional, NaN, too large): never an id.
    if (id >>> 0 !== id) return undefined;
    const page = this.pages[id >>> PAGE_BITS];
    if (page === undefined || page === null) return undefined;
    return page[id & PAGE_MASK] ?? undefined;
  }

  /** Adds a working order (ids must be positive integers below 2^32). */
  set(id: VenueOrderId, order: BookOrder): void {
    const p = id >>> PAGE_BITS;
    while (this.pages.length <= p) {
      this.pages.push(null);
      this.live.push(0);
    }
    let page = this.pages[p]!;
    if (page === null) {
      page = new Array<BookOrder | null>(PAGE_SIZE).fill(null);
      this.pages[p] = page;
    }
    if (page[id & PAGE_MASK] === null) {
      this.live[p]! += 1;
      this.size += 1;
    }
    page[id & PAGE_MASK] = order;
  }

  /** Removes an order; `lastIssued` (the newest id) tells whether its page can be dropped. */
  delete(id: VenueOrderId, lastIssued: VenueOrderId): void {
    const p = id >>> PAGE_BITS;
    const page = this.pages[p];
    if (page === undefined || page === null || page[id & PAGE_MASK] === null) return;
    page[id & PAGE_MASK] = null;
    this.size -= 1;
    const live = (this.live[p]! -= 1);
    // Drop the page once it holds nothing and no later id can land in it.
    if (live === 0 && lastIssued >>> PAGE_BITS > p) this.pages[p] = null;
  }

  /** Pages currently allocated (for tests and memory checks). */
  get allocatedPages(): number {
    let count = 0;
    for (const page of this.pages) if (page !== null) count += 1;
    return count;
  }
}

// ---------------------------------------------------------------------------------------------
// Engine-wide state shared by the books

/** What the books share: the event sink, the id counters, and the working orders by id. */
export class MatchingCore {
  events: MatchingEvents;
  orderSeq = 0;
  tradeSeq = 0;
  /** Orders that are on a book or held: the ones a cancel can reach. */
  readonly working = new OrderIndex();

  constructor(events: MatchingEvents) {
    this.events = events;
  }

  /** Forgets a working order that was filled or cancelled. */
  done(order: BookOrder): void {
    this.working.delete(order.id, this.orderSeq);
  }
}

export interface BookSettings {
  readonly instrument: Instrument;
  /** The day's limits, or null for none. */
  readonly limitBand: PriceBand | null;
  /** Where prices may lie: the band, or the declaration range when there is no limit. */
  readonly validRange: PriceBand;
  readonly previousClose: Price;
  readonly cage: PriceCageSettings;
  readonly lotSettings: LotSettings;
  readonly marketOrderTypes: ReadonlySet<OrderType>;
  readonly phase: Phase;
}

const NO_LEVEL_LIMIT = Number.MAX_SAFE_INTEGER;

// ---------------------------------------------------------------------------------------------
// The book

export class OrderBook implements ValidationContext, CageQuote {
  readonly symbol: string;
  readonly instrument: Instrument;
  readonly board: Board;
  readonly limitBand: PriceBand | null;
  readonly validRange: PriceBand;
  readonly previousClose: Price;
  readonly cage: PriceCageSettings;
  readonly lotSettings: LotSettings;
  readonly marketOrderTypes: ReadonlySet<OrderType>;
  readonly bids: BookSide;
  readonly asks: BookSide;
  phase: Phase;

  // The day's statistics (0 = none yet).
  last: Price = 0;
  open: Price = 0;
  high: Price = 0;
  low: Price = 0;
  volume: Qty = 0;
  turnover: Money = 0;
  tradeCount = 0;
  /** Bumped on every change of the book, the statistics or the phase. */
  version = 0;

  /** Accepted orders held outside the cage, in arrival order. */
  private readonly held: BookOrder[] = [];
  /** Lowest held buy price and highest held sell price: a cheap "can anything be released?" test. */
  private heldMinBuy = Number.POSITIVE_INFINITY;
  private heldMaxSell = Number.NEGATIVE_INFINITY;
  // Cage bounds cached by reference price (they only change when the reference does).
  private cageBuyRef = -1;
  private cageBuyCeiling = 0;
  private cageSellRef = -1;
  private cageSellFloor = 0;
  /** Price of the aggressor's last execution in `match` (for MARKET_BEST5_TO_LIMIT). */
  private lastMatchPrice: Price = 0;
  private readonly core: MatchingCore;

  constructor(settings: BookSettings, core: MatchingCore) {
    const { instrument, validRange } = settings;
    if (validRange.lower % TICK !== 0 || validRange.upper % TICK !== 0 || validRange.lower <= 0 || validRange.upper < validRange.lower) {
      throw new RangeError(
        `${instrument.symbol}: price range ${validRange.lower}..${validRange.upper} must be positive tick prices, lower ≤ upper`,
      );
    }
    this.symbol = instrument.symbol;
    this.instrument = instrument;
    this.board = instrument.board;
    this.limitBand = settings.limitBand;
    this.validRange = validRange;
    this.previousClose = settings.previousClose;
    this.cage = settings.cage;
    this.lotSettings = settings.lotSettings;
    this.marketOrderTypes = settings.marketOrderTypes;
    this.phase = settings.phase;
    this.core = core;
    const size = (validRange.upper - validRange.lower) / TICK + 1;
    this.bids = new BookSide(true, validRange.lower, size);
    this.asks = new BookSide(false, validRange.lower, size);
  }

  // CageQuote: 0 stands for "no such price" (the core's cageReference accepts 0 as absent).
  get bestBid(): Price {
    return this.bids.bestPrice();
  }
  get bestAsk(): Price {
    return this.asks.bestPrice();
  }

  get heldCount(): number {
    return this.held.length;
  }

  /** Is a limit price inside its side's cage now? Same rule as `insideCage`, with the bound cached. */
  private insideCage(isBuy: boolean, price: Price): boolean {
    if (isBuy) {
      const ref = cageReference('BUY', this);
      if (ref !== this.cageBuyRef) {
        this.cageBuyRef = ref;
        this.cageBuyCeiling = buyCageCeiling(ref, this.cage);
      }
      return price <= this.cageBuyCeiling;
    }
    const ref = cageReference('SELL', this);
    if (ref !== this.cageSellRef) {
      this.cageSellRef = ref;
      this.cageSellFloor = sellCageFloor(ref, this.cage);
    }
    return price >= this.cageSellFloor;
  }

  private indexOf(price: Price): number {
    return (price - this.validRange.lower) / TICK;
  }

  private reject(request: OrderRequest, reason: SubmitRejectReason, detail: string, time: Micros): VenueOrderId {
    this.core.events.orderRejected(request, reason, detail, time);
    return 0;
  }

  /** Names the order and reports it accepted (already flagged when it is to be held). */
  private accept(request: OrderRequest, time: Micros, held = false): BookOrder {
    const core = this.core;
    core.orderSeq += 1;
    const order = new BookOrder(core.orderSeq, request, this, time);
    if (held) {
      order.held = true;
      order.bookPrice = order.price;
    }
    core.events.orderAccepted(order, time);
    return order;
  }

  // -------------------------------------------------------------------------------------------
  // Entry (the engine has validated the request statically)

  submit(request: OrderRequest, time: Micros): VenueOrderId {
    if (isCallAuction(this.phase)) {
      // Only limit orders get here: they accumulate without matching.
      const order = this.accept(request, time);
      this.rest(order, request.price);
      return order.id;
    }
    const id = this.submitContinuous(request, time);
    if (this.held.length > 0) this.releaseHeld(time);
    return id;
  }

  private submitContinuous(request: OrderRequest, time: Micros): VenueOrderId {
    const isBuy = request.side === 'BUY';
    const opposite = isBuy ? this.asks : this.bids;
    switch (request.orderType) {
      case 'LIMIT': {
        if (!this.insideCage(isBuy, request.price)) {
          const check = cageCheck(request.side, request.price, this, this.cage);
          const detail = check.ok ? 'outside the price cage' : check.detail;
          if (this.cage.mode === 'reject') return this.reject(request, 'OUTSIDE_PRICE_CAGE', detail, time);
          const order = this.accept(request, time, true);
          this.hold(order, detail, time);
          return order.id;
        }
        const order = this.accept(request, time);
        this.matchThenRest(order, request.price, time);
        return order.id;
      }
      case 'MARKET_BEST_OWN': {
        const own = isBuy ? this.bids : this.asks;
        if (own.best < 0) return this.reject(request, 'NO_OWN_QUOTE', 'no order on the own side to take the price from', time);
        const order = this.accept(request, time);
        this.matchThenRest(order, own.bestPrice(), time);
        return order.id;
      }
      case 'MARKET_BEST_COUNTER': {
        if (opposite.best < 0) {
          return this.reject(request, 'NO_COUNTER_QUOTE', 'no order on the counter side to take the price from', time);
        }
        const order = this.accept(request, time);
        this.matchThenRest(order, opposite.bestPrice(), time);
        return order.id;
      }
      case 'MARKET_BEST5_TO_LIMIT': {
        if (opposite.best < 0) {
          return this.reject(request, 'NO_COUNTER_QUOTE', 'no order on the counter side to trade with', time);
        }
        const order = this.accept(request, time);
        this.lastMatchPrice = 0;
        this.match(order, this.protectionIndex(order), 5, time);
        if (order.leavesQty > 0) {
          // The remainder becomes a limit order at the last execution price; nothing traded
          // (the protection price excluded every level): the order is cancelled.
          if (this.lastMatchPrice > 0) this.rest(order, this.lastMatchPrice);
          else this.cancelRemainder(order, 'IOC_REMAINDER', time);
        }
        return order.id;
      }
      case 'MARKET_BEST5_IOC':
      case 'MARKET_IOC': {
        const order = this.accept(request, time);
        this.match(order, this.protectionIndex(order), request.orderType === 'MARKET_IOC' ? NO_LEVEL_LIMIT : 5, time);
        if (order.leavesQty > 0) this.cancelRemainder(order, 'IOC_REMAINDER', time);
        return order.id;
      }
      case 'MARKET_FOK': {
        const order = this.accept(request, time);
        const limit = this.protectionIndex(order);
        if (this.available(opposite, isBuy, limit, order.leavesQty)) this.match(order, limit, NO_LEVEL_LIMIT, time);
        else this.cancelRemainder(order, 'FOK_NOT_FILLED', time);
        return order.id;
      }
      default:
        throw new RangeError(`unhandled order type ${String(request.orderType)}`);
    }
  }

  /** The ladder index a market order may not trade beyond: its protection price, else the range end. */
  private protectionIndex(order: BookOrder): number {
    if (order.price > 0) return this.indexOf(order.price);
    return order.isBuy ? this.bids.size - 1 : 0;
  }

  /** Is at least `need` available on `side` within `limit` (a ladder index)? */
  private available(side: BookSide, isBuy: boolean, limit: number, need: Qty): boolean {
    let total = 0;
    for (let index = side.best; index >= 0 && (isBuy ? index <= limit : index >= limit); index = side.worse(index)) {
      total += side.levels[index]!.qty;
      if (total >= need) return true;
    }
    return false;
  }

  private matchThenRest(order: BookOrder, price: Price, time: Micros): void {
    order.bookPrice = price;
    this.match(order, this.indexOf(price), NO_LEVEL_LIMIT, time);
    if (order.leavesQty > 0) this.rest(order, price);
  }

  private rest(order: BookOrder, price: Price): void {
    order.bookPrice = price;
    (order.isBuy ? this.bids : this.asks).append(order, this.indexOf(price));
    this.core.working.set(order.id, order);
    this.version += 1;
  }

  /**
   * Matches an incoming order against the opposite side in price-time priority, up to the
   * ladder index `limit` (inclusive) and at most `maxLevels` price levels.
   */
  private match(taker: BookOrder, limit: number, maxLevels: number, time: Micros): void {
    const isBuy = taker.isBuy;
    const side = isBuy ? this.asks : this.bids;
    const core = this.core;
    const aggressor: AggressorSide = isBuy ? 'BUY' : 'SELL';
    let levels = 0;
    let index = side.best;
    while (index >= 0 && levels < maxLevels && (isBuy ? index <= limit : index >= limit)) {
      levels += 1;
      const level = side.levels[index]!;
      const price = level.price;
      this.lastMatchPrice = price;
      let maker = level.head;
      while (maker !== null) {
        const want = taker.leavesQty;
        const qty = want < maker.leavesQty ? want : maker.leavesQty;
        const next = maker.next;
        level.qty -= qty;
        if (isBuy) this.execute(taker, maker, price, qty, aggressor, time);
        else this.execute(maker, taker, price, qty, aggressor, time);
        if (maker.leavesQty === 0) {
          side.unlink(maker);
          core.done(maker);
        }
        if (taker.leavesQty === 0) return;
        maker = next;
      }
      // The level emptied (unlink moved `best` on).
      index = side.best;
    }
  }

  /** One execution between a buy and a sell order; the caller keeps level totals and links. */
  private execute(buy: BookOrder, sell: BookOrder, price: Price, qty: Qty, aggressor: AggressorSide, time: Micros): void {
    const value = price * qty;
    buy.cumQty += qty;
    buy.leavesQty -= qty;
    buy.notional += value;
    buy.status = buy.leavesQty === 0 ? 'FILLED' : 'PARTIALLY_FILLED';
    sell.cumQty += qty;
    sell.leavesQty -= qty;
    sell.notional += value;
    sell.status = sell.leavesQty === 0 ? 'FILLED' : 'PARTIALLY_FILLED';

    this.last = price;
    if (this.open === 0) {
      this.open = price;
      this.high = price;
      this.low = price;
    } else if (price > this.high) this.high = price;
    else if (price < this.low) this.low = price;
    this.volume += qty;
    this.turnover += value;
    this.tradeCount += 1;
    this.version += 1;

    const core = this.core;
    core.tradeSeq += 1;
    const trade: Trade = {
      tradeId: core.tradeSeq,
      symbol: this.symbol,
      price,
      qty,
      buyOrderId: buy.id,
      sellOrderId: sell.id,
      buyAccount: buy.account,
      sellAccount: sell.account,
      aggressor,
      time,
    };
    const events = core.events;
    events.tradeExecuted(trade);
    // The passive side first; in an auction (no aggressor) the buy first.
    if (aggressor === 'BUY') {
      events.orderFilled(sell, trade);
      events.orderFilled(buy, trade);
    } else {
      events.orderFilled(buy, trade);
      events.orderFilled(sell, trade);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Cancels

  private cancelRemainder(order: BookOrder, reason: CancelReason, time: Micros): void {
    order.cancelledQty += order.leavesQty;
    order.leavesQty = 0;
    order.status = 'CANCELLED';
    this.core.events.orderCancelled(order, reason, time);
  }

  /** Cancels a working order of this book (on the book or held). */
  cancel(order: BookOrder, reason: CancelReason, time: Micros): void {
    if (order.held) this.removeHeld(order);
    else (order.isBuy ? this.bids : this.asks).unlink(order);
    this.core.done(order);
    this.version += 1;
    this.cancelRemainder(order, reason, time);
    if (isContinuous(this.phase) && this.held.length > 0) this.releaseHeld(time);
  }

  /** Cancels every working order (held ones too): the end of the trading day. Returns how many. */
  expireAll(time: Micros): number {
    let count = 0;
    for (const side of [this.bids, this.asks]) {
      while (side.best >= 0) {
        const order = side.levels[side.best]!.head!;
        side.unlink(order);
        this.core.done(order);
        this.cancelRemainder(order, 'END_OF_DAY', time);
        count += 1;
      }
    }
    while (this.held.length > 0) {
      const order = this.held[0]!;
      this.removeHeld(order);
      this.core.done(order);
      this.cancelRemainder(order, 'END_OF_DAY', time);
      count += 1;
    }
    if (count > 0) this.version += 1;
    return count;
  }

  // -------------------------------------------------------------------------------------------
  // The price cage's held orders (hold-mode boards)

  private hold(order: BookOrder, detail: string, time: Micros): void {
    this.held.push(order);
    if (order.isBuy) {
      if (order.price < this.heldMinBuy) this.heldMinBuy = order.price;
    } else if (order.price > this.heldMaxSell) this.heldMaxSell = order.price;
    this.core.working.set(order.id, order);
    this.version += 1;
    this.core.events.orderHeld(order, detail, time);
  }

  private removeHeld(order: BookOrder): void {
    const at = this.held.indexOf(order);
    if (at >= 0) this.held.splice(at, 1);
    order.held = false;
    this.heldMinBuy = Number.POSITIVE_INFINITY;
    this.heldMaxSell = Number.NEGATIVE_INFINITY;
    for (const other of this.held) {
      if (other.isBuy) {
        if (other.price < this.heldMinBuy) this.heldMinBuy = other.price;
      } else if (other.price > this.heldMaxSell) this.heldMaxSell = other.price;
    }
  }

  /**
   * Re-checks held orders after the book or the last price moved (continuous trading only).
   * A held order that is now inside the cage enters the book as a new arrival: it may trade
   * at once, and any remainder queues behind the orders already there (time priority from
   * entry, as the trading host "confirms" it only then). Held orders are examined in arrival
   * order; after each release the references are re-read and the scan restarts.
   */
  releaseHeld(time: Micros): void {
    if (!isContinuous(this.phase)) return;
    for (;;) {
      if (this.held.length === 0) return;
      const canBuy = this.heldMinBuy !== Number.POSITIVE_INFINITY && this.insideCage(true, this.heldMinBuy);
      const canSell = this.heldMaxSell !== Number.NEGATIVE_INFINITY && this.insideCage(false, this.heldMaxSell);
      if (!canBuy && !canSell) return;
      let released: BookOrder | undefined;
      for (const order of this.held) {
        if (this.insideCage(order.isBuy, order.price)) {
          released = order;
          break;
        }
      }
      if (released === undefined) return;
      this.removeHeld(released);
      this.core.done(released);
      this.version += 1;
      this.core.events.orderReleased(released, time);
      this.matchThenRest(released, released.price, time);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Call auction

  /** The reference of step 3: the previous close before the day's first trade, then the last price. */
  auctionReference(): Price {
    return this.last > 0 ? this.last : this.previousClose;
  }

  /** The levels of the crossed range, for the auction calculation. */
  private crossedLevels(): { bids: PriceLevel[]; asks: PriceLevel[] } | null {
    const { bids, asks } = this;
    if (bids.best < 0 || asks.best < 0 || bids.best < asks.best) return null;
    const bidLevels: PriceLevel[] = [];
    for (let index = bids.best; index >= asks.best; index = bids.worse(index)) bidLevels.push(bids.levels[index]!);
    const askLevels: PriceLevel[] = [];
    for (let index = asks.best; index >= 0 && index <= bids.best; index = asks.worse(index)) askLevels.push(asks.levels[index]!);
    return { bids: bidLevels, asks: askLevels };
  }

  /** The price and volume an uncross would produce now (the indicative auction price). */
  indicativeAuction(): AuctionResult | null {
    const crossed = this.crossedLevels();
    if (crossed === null) return null;
    return computeUncross(crossed.bids, crossed.asks, this.auctionReference());
  }

  /**
   * Executes the auction: everything executable trades at the one auction price, buys and
   * sells each taken in price-time priority; whatever is left stays on the book.
   */
  uncross(time: Micros): AuctionResult | null {
    const result = this.indicativeAuction();
    if (result === null) return null;
    const { bids, asks } = this;
    const core = this.core;
    let remaining = result.volume;
    while (remaining > 0) {
      const bidLevel = bids.bestLevel();
      const askLevel = asks.bestLevel();
      if (bidLevel === null || askLevel === null) throw new Error(`${this.symbol}: auction volume exceeds the book`);
      const buy = bidLevel.head!;
      const sell = askLevel.head!;
      let qty = buy.leavesQty < sell.leavesQty ? buy.leavesQty : sell.leavesQty;
      if (remaining < qty) qty = remaining;
      bidLevel.qty -= qty;
      askLevel.qty -= qty;
      this.execute(buy, sell, result.price, qty, 'NONE', time);
      remaining -= qty;
      if (buy.leavesQty === 0) {
        bids.unlink(buy);
        core.done(buy);
      }
      if (sell.leavesQty === 0) {
        asks.unlink(sell);
        core.done(sell);
      }
    }
    return result;
  }

  // -------------------------------------------------------------------------------------------
  // Market data

  snapshot(depth: number, time: Micros): BookSnapshot {
    const band = this.limitBand;
    return {
      symbol: this.symbol,
      time,
      phase: this.phase,
      lastPrice: this.last,
      openPrice: this.open,
      highPrice: this.high,
      lowPrice: this.low,
      prevClosePrice: this.previousClose,
      upperLimitPrice: band === null ? 0 : band.upper,
      lowerLimitPrice: band === null ? 0 : band.lower,
      volume: this.volume,
      turnover: this.turnover,
      tradeCount: this.tradeCount,
      bids: this.bids.topLevels(depth),
      asks: this.asks.topLevels(depth),
      heldOrders: this.held.length,
      version: this.version,
    };
  }

  /** Ids of the orders at one price on one side, in queue (time priority) order. */
  queueAt(side: Side, price: Price): VenueOrderId[] {
    const ids: VenueOrderId[] = [];
    if (price < this.validRange.lower || price > this.validRange.upper || price % TICK !== 0) return ids;
    const level = (side === 'BUY' ? this.bids : this.asks).levels[this.indexOf(price)];
    for (let order = level?.head ?? null; order !== null; order = order.next) ids.push(order.id);
    return ids;
  }

  /** Held orders, in arrival order. */
  heldOrders(): readonly OrderView[] {
    return this.held.slice();
  }
}
