/**
 * The outcome of a rule check. Rules never throw for anything an order or a user can get
 * wrong: they return a failure with a stable machine code (`reason`, UPPER_SNAKE_CASE, safe
 * to match on and to put in metrics) and a human `detail`. Throwing is kept for programming
 * errors (impossible inputs such as a negative previous close).
 */
export interface RuleOk {
  readonly ok: true;
}

export interface RuleFailure<Reason extends string = string> {
  readonly ok: false;
  readonly reason: Reason;
  readonly detail: string;
}

export type RuleResult<Reason extends string = string> = RuleOk | RuleFailure<Reason>;

/** A check that also produces a value when it passes (e.g. parsing a symbol). */
export type ValueResult<T, Reason extends string = string> =
  | { readonly ok: true; readonly value: T }
  | RuleFailure<Reason>;

/** The one shared success: hot-path checks return it instead of allocating. */
export const OK: RuleOk = Object.freeze({ ok: true });

export function fail<Reason extends string>(reason: Reason, detail: string): RuleFailure<Reason> {
  return { ok: false, reason, detail };
}
