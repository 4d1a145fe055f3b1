/** Pre-trade risk: the engine, its rules, settings and the shared contract types. */
export type * from './types.ts';
export * from './engine.ts';
export * from './decision.ts';
export * from './limits.ts';
export * from './settings.ts';
export * from './compliance.ts';
export * from './trading-state.ts';
export * from './token-bucket.ts';
export * from './daily-counter.ts';
export * from './rules/reference.ts';
export * from './rules/quantity.ts';
export * from './rules/price.ts';
export * from './rules/duplicate.ts';
export * from './rules/account.ts';
