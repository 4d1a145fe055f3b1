/**
 * The pure matching engine (continuous double auction, call auctions, exchange-side
 * validation), shared by the simulator and the backtester. See engine.ts for the facade,
 * events.ts for the event sink, types.ts for the order input and the records it produces.
 */
export { MatchingEngine, MatchingReentrancyError } from './engine.ts';
export type { InstrumentReference, MatchingEngineOptions } from './engine.ts';
export { EventRecorder, NO_EVENTS } from './events.ts';
export type { MatchingEvents, RecordedEvent } from './events.ts';
export { computeUncross } from './auction.ts';
export type { AuctionLevel } from './auction.ts';
export { cageCheck, DEFAULT_MARKET_ORDER_TYPES, insideCage, noLimitRange, validateOrder } from './validation.ts';
export type { ValidationContext } from './validation.ts';
export type * from './types.ts';
