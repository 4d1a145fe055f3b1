/**
 * The multi-symbol matching engine: the venue's trading host, pure and synchronous.
 *
 *   const engine = new MatchingEngine({ clock, events });
 *   engine.addInstrument(instrument, { band: priceLimitBand(instrument, date, calendar) });
 *   engine.setPhase('OPENING_CALL');
 *   const id = engine.submit({ symbol, side: 'BUY', orderType: 'LIMIT', price, quantity, account });
 *   engine.setPhase('PRE_CONTINUOUS');   // leaving the call auction uncrosses it
 *   engine.cancel(id);
 *
 * Behaviour worth knowing:
 * - Phases are set from outside (the simulator's session clock, a backtest's replay), for
 *   all symbols or one. When a symbol leaves a call-auction phase for a non-auction phase, its
 *   book is uncrossed first (`uncross` may also be called explicitly, e.g. at 09:25).
 * - Everything an order or a cancel can get wrong comes back as an event with a reason code;
 *   methods throw only for programming errors (unknown symbol in `snapshot`, a callback that
 *   re-enters the engine, a duplicate instrument).
 * - Time comes from the injected Clock, read once per call: all events of one call carry it.
 * - Self-trades are not prevented, as on the SSE/SZSE (surveillance counts them instead):
 *   every trade names both accounts (buyAccount, sellAccount) so they can be counted.
 * - Event callbacks must neither re-enter the engine (MatchingReentrancyError) nor throw: an
 *   exception from a callback propagates out of the engine call with that call half done.
 *   A consumer that can fail (a socket write) queues the event and handles it afterwards.
 *
 * Order types in continuous trading (market orders are refused in call auctions). The
 * `price` of a market order is an optional protection price that bounds the IOC/FOK/best-five
 * types; the best-own / best-counter types take their price from the book and ignore it.
 * - LIMIT: matches what it crosses, the rest rests at its price (day order).
 * - MARKET_BEST5_IOC: trades through at most five price levels of the counter side; the rest is
 *   cancelled (IOC_REMAINDER). An empty counter side: accepted, then cancelled.
 * - MARKET_IOC: trades at any price (the band bounds the book); the rest is cancelled.
 * - MARKET_FOK: trades its whole quantity at once or nothing (FOK_NOT_FILLED).
 * - MARKET_BEST5_TO_LIMIT: as best-five, then the rest rests as a limit at its last execution
 *   price; refused (NO_COUNTER_QUOTE) when the counter side is empty; cancelled if the
 *   protection price allowed no execution at all.
 * - MARKET_BEST_COUNTER: a limit at the best counter price at entry (so it trades that level
 *   only); refused (NO_COUNTER_QUOTE) when that side is empty.
 * - MARKET_BEST_OWN: a limit at the best own-side price at entry (joins that queue);
 *   refused (NO_OWN_QUOTE) when that side is empty.
 * The price cage checks limit orders only (market orders take book prices).
 *
 * The price cage in hold mode (SZSE boards by default): an out-of-cage limit order is
 * accepted (orderAccepted, orderHeld) but kept off the book; whenever the book or the last
 * price moves in continuous trading, held orders now inside the cage enter in arrival order
 * (orderReleased) and then match and queue like new arrivals — their time priority starts at
 * entry. Held orders stay held outside continuous trading (lunch, the closing call: the cage
 * releases orders "into continuous trading") and can be cancelled whenever cancels are
 * allowed; `expireAll` ends them at the close.
 */
import type { Clock, Micros } from '../core/clock.ts';
import type { Board, Instrument } from '../core/instruments.ts';
import type { LotSettings } from '../core/lot-rules.ts';
import type { OrderType } from '../core/order.ts';
import type { PriceBand, PriceCageSettings } from '../core/price-rules.ts';
import type { Phase } from '../core/sessions.ts';
import type { Price } from '../core/units.ts';
import type { MatchingEvents } from './events.ts';
import type { AuctionResult, BookSnapshot, OrderRequest, OrderView, VenueOrderId } from './types.ts';
import { TriquantError, ValidationError } from '../core/errors.ts';
import { DEFAULT_LOT_SETTINGS } from '../core/lot-rules.ts';
import { DEFAULT_PRICE_CAGE_SETTINGS } from '../core/price-rules.ts';
import { canCancel, isCallAuction } from '../core/sessions.ts';
import { NO_EVENTS } from './events.ts';
import { MatchingCore, OrderBook } from './order-book.ts';
import { DEFAULT_MARKET_ORDER_TYPES, noLimitRange, validateOrder } from './validation.ts';

/** A callback called back into the engine (events must be queued, not acted on in place). */
export class MatchingReentrancyError extends TriquantError {
  constructor(method: string) {
    super('MATCHING_REENTRANCY', `MatchingEngine.${method} was called from inside an event callback`);
  }
}

export interface MatchingEngineOptions {
  readonly clock: Clock;
  /** Where events go (default: nowhere). Replace later with `setEvents`. */
  readonly events?: MatchingEvents;
  /** Phase of every symbol at the start (default PRE_OPEN: nothing accepted until told). */
  readonly phase?: Phase;
  readonly lotSettings?: LotSettings;
  /** Price cage per board, including the hold-or-reject mode (default: the core's). */
  readonly cageSettings?: Readonly<Record<Board, PriceCageSettings>>;
  /** Market order types offered per board (default: DEFAULT_MARKET_ORDER_TYPES). */
  readonly marketOrderTypes?: Readonly<Record<Board, readonly OrderType[]>>;
  /** No-limit instruments accept prices up to this multiple of the previous close (default 10). */
  readonly noLimitUpperMultiple?: number;
}

/** A symbol's reference data for the day. */
export interface InstrumentReference {
  /** The day's price limits (`priceLimitBand`), or null when there is none today. */
  readonly band: PriceBand | null;
  /** The auction reference and snapshot prev close (default: instrument.previousClose). */
  readonly previousClose?: Price;
  /** Overrides the board's cage settings for this symbol. */
  readonly cage?: PriceCageSettings;
  /** Phase to start in (default: the engine's current all-symbol phase). */
  readonly phase?: Phase;
}

export class MatchingEngine {
  private readonly clock: Clock;
  private readonly core: MatchingCore;
  private readonly books = new Map<string, OrderBook>();
  private readonly lotSettings: LotSettings;
  private readonly cageSettings: Readonly<Record<Board, PriceCageSettings>>;
  private readonly marketTypes: Readonly<Record<Board, ReadonlySet<OrderType>>>;
  private readonly noLimitUpperMultiple: number;
  private defaultPhase: Phase;
  private busy = false;

  constructor(options: MatchingEngineOptions) {
    this.clock = options.clock;
    this.core = new MatchingCore(options.events ?? NO_EVENTS);
    this.defaultPhase = options.phase ?? 'PRE_OPEN';
    this.lotSettings = options.lotSettings ?? DEFAULT_LOT_SETTINGS;
    this.cageSettings = options.cageSettings ?? DEFAULT_PRICE_CAGE_SETTINGS;
    const types = options.marketOrderTypes ?? DEFAULT_MARKET_ORDER_TYPES;
    const sets = {} as Record<Board, ReadonlySet<OrderType>>;
    for (const board of Object.keys(types) as Board[]) sets[board] = new Set(types[board]);
    this.marketTypes = sets;
    this.noLimitUpperMultiple = options.noLimitUpperMultiple ?? 10;
  }

  setEvents(events: MatchingEvents): void {
    this.core.events = events;
  }

  /** Adds a symbol's book for the day. Throws on a symbol already added (a wiring error). */
  addInstrument(instrument: Instrument, reference: InstrumentReference): void {
    if (this.books.has(instrument.symbol)) throw new ValidationError(`instrument ${instrument.symbol} was already added`);
    const previousClose = reference.previousClose ?? instrument.previousClose;
    const validRange = reference.band ?? noLimitRange(previousClose, this.noLimitUpperMultiple);
    const marketOrderTypes = this.marketTypes[instrument.board] ?? new Set<OrderType>();
    const book = new OrderBook(
      {
        instrument,
        limitBand: reference.band,
        validRange,
        previousClose,
        cage: reference.cage ?? this.cageSettings[instrument.board],
        lotSettings: this.lotSettings,
        marketOrderTypes,
        phase: reference.phase ?? this.defaultPhase,
      },
      this.core,
    );
    this.books.set(instrument.symbol, book);
  }

  hasSymbol(symbol: string): boolean {
    return this.books.has(symbol);
  }

  symbols(): string[] {
    return [...this.books.keys()];
  }

  private book(symbol: string): OrderBook {
    const book = this.books.get(symbol);
    if (book === undefined) throw new ValidationError(`unknown symbol ${symbol}`);
    return book;
  }

  private enter(method: string): Micros {
    if (this.busy) throw new MatchingReentrancyError(method);
    this.busy = true;
    return this.clock.nowMicros();
  }

  // -------------------------------------------------------------------------------------------
  // Phases and auctions

  /**
   * Sets the phase of one symbol, or of every symbol (and of symbols added later) when
   * `symbol` is omitted. Leaving a call auction for a non-auction phase uncrosses the book;
   * entering continuous trading re-checks orders held outside the price cage.
   */
  setPhase(phase: Phase, symbol?: string): void {
    const time = this.enter('setPhase');
    try {
      if (symbol === undefined) {
        this.defaultPhase = phase;
        for (const book of this.books.values()) this.changePhase(book, phase, time);
      } else {
        this.changePhase(this.book(symbol), phase, time);
      }
    } finally {
      this.busy = false;
    }
  }

  private changePhase(book: OrderBook, phase: Phase, time: Micros): void {
    if (book.phase === phase) return;
    if (isCallAuction(book.phase) && !isCallAuction(phase)) book.uncross(time);
    book.phase = phase;
    book.version += 1;
    book.releaseHeld(time);
  }

  phase(symbol: string): Phase {
    return this.book(symbol).phase;
  }

  /** Runs one symbol's call-auction match now; null when nothing could trade. */
  uncross(symbol: string): AuctionResult | null {
    const time = this.enter('uncross');
    try {
      return this.book(symbol).uncross(time);
    } finally {
      this.busy = false;
    }
  }

  /** Uncrosses every symbol; returns the results of those that traded. */
  uncrossAll(): Map<string, AuctionResult> {
    const time = this.enter('uncrossAll');
    try {
      const results = new Map<string, AuctionResult>();
      for (const book of this.books.values()) {
        const result = book.uncross(time);
        if (result !== null) results.set(book.symbol, result);
      }
      return results;
    } finally {
      this.busy = false;
    }
  }

  /** The indicative auction price and volume if the book were uncrossed now (for market data). */
  indicativeAuction(symbol: string): AuctionResult | null {
    return this.book(symbol).indicativeAuction();
  }

  // -------------------------------------------------------------------------------------------
  // Orders

  /**
   * Submits an order. Returns its venue order id, or 0 if it was rejected (the reason went to
   * `orderRejected`). Accepted orders produce their events before this returns.
   */
  submit(request: OrderRequest): VenueOrderId {
    const time = this.enter('submit');
    try {
      const book = this.books.get(request.symbol);
      if (book === undefined) {
        this.core.events.orderRejected(request, 'UNKNOWN_SYMBOL', `unknown symbol ${String(request.symbol)}`, time);
        return 0;
      }
      const check = validateOrder(request, book);
      if (!check.ok) {
        this.core.events.orderRejected(request, check.reason, check.detail, time);
        return 0;
      }
      return book.submit(request, time);
    } finally {
      this.busy = false;
    }
  }

  /**
   * Requests the cancel of a working order. With `account`, only its owner may cancel it.
   * Returns true if the order was cancelled (orderCancelled), false if refused (cancelRejected).
   */
  cancel(orderId: VenueOrderId, account?: string): boolean {
    const time = this.enter('cancel');
    try {
      const core = this.core;
      const order = core.working.get(orderId);
      if (order === undefined) {
        const issued = Number.isSafeInteger(orderId) && orderId > 0 && orderId <= core.orderSeq;
        core.events.cancelRejected(
          orderId,
          issued ? 'TOO_LATE_TO_CANCEL' : 'UNKNOWN_ORDER',
          issued ? `order ${orderId} is already filled or cancelled` : `no order ${orderId}`,
          time,
          undefined,
        );
        return false;
      }
      if (account !== undefined && order.account !== account) {
        core.events.cancelRejected(orderId, 'NOT_OWNER', `order ${orderId} belongs to another account`, time, order);
        return false;
      }
      const book = order.book;
      if (!canCancel(book.phase)) {
        core.events.cancelRejected(orderId, 'PHASE_FORBIDS_CANCEL', `phase ${book.phase} takes no cancels`, time, order);
        return false;
      }
      book.cancel(order, 'REQUESTED', time);
      return true;
    } finally {
      this.busy = false;
    }
  }

  /** Cancels every working order of one symbol or all (END_OF_DAY); returns how many. */
  expireAll(symbol?: string): number {
    const time = this.enter('expireAll');
    try {
      if (symbol !== undefined) return this.book(symbol).expireAll(time);
      let count = 0;
      for (const book of this.books.values()) count += book.expireAll(time);
      return count;
    } finally {
      this.busy = false;
    }
  }

  /** A working order (on a book or held) by venue id; undefined once filled or cancelled. */
  order(orderId: VenueOrderId): OrderView | undefined {
    return this.core.working.get(orderId);
  }

  /** Number of working orders across all books. */
  get workingOrders(): number {
    return this.core.working.size;
  }

  /** The last venue order id and trade id issued (0 = none yet). */
  get lastOrderId(): VenueOrderId {
    return this.core.orderSeq;
  }
  get lastTradeId(): number {
    return this.core.tradeSeq;
  }

  // -------------------------------------------------------------------------------------------
  // Market data

  /** Book levels (best first, up to `depth` each), last, open/high/low, volume, turnover. */
  snapshot(symbol: string, depth = 10): BookSnapshot {
    return this.book(symbol).snapshot(depth, this.clock.nowMicros());
  }

  bestBid(symbol: string): Price {
    return this.book(symbol).bestBid;
  }

  bestAsk(symbol: string): Price {
    return this.book(symbol).bestAsk;
  }

  /** Ids at one price on one side in time-priority order (for inspection and tests). */
  queueAt(symbol: string, side: 'BUY' | 'SELL', price: Price): VenueOrderId[] {
    return this.book(symbol).queueAt(side, price);
  }

  /** Orders held outside the price cage, in arrival order. */
  heldOrders(symbol: string): readonly OrderView[] {
    return this.book(symbol).heldOrders();
  }

  /** The book's change counter (as in the snapshot), without building a snapshot. */
  version(symbol: string): number {
    return this.book(symbol).version;
  }
}
