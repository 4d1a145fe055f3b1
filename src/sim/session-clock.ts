/**
 * The simulator's notion of time and trading phase.
 * - `real`: the exchange calendar at the real China time (closed at night and at weekends);
 * - `accelerated`: a simulated day that starts at `startTime` (default 09:15) when the
 *   simulator starts and runs `speed` times faster than real time, so a demo at any hour
 *   walks through the call auction, continuous trading, lunch and the close;
 * - `continuous`: always continuous trading at the real time, for tests and load runs.
 */
import { chinaDate, chinaInstant, chinaTimeOfDay, MICROS_PER_DAY, type Clock, type Micros, type TradingDate } from '../core/clock.ts';
import type { Board } from '../core/instruments.ts';
import type { TradingCalendar } from '../core/calendar.ts';
import { Phase, phaseAt, phaseAtInstant } from '../core/sessions.ts';

export type SimTimeMode =
  | { kind: 'real' }
  | { kind: 'accelerated'; speed: number; startTimeOfDay: Micros }
  | { kind: 'continuous' };

export class SimSessionClock implements Clock {
  private readonly base: Clock;
  private readonly mode: SimTimeMode;
  private readonly calendar: TradingCalendar;
  private readonly realStart: Micros;
  private readonly simStart: Micros;
  readonly tradingDate: TradingDate;

  constructor(base: Clock, mode: SimTimeMode, calendar: TradingCalendar) {
    if (mode.kind === 'accelerated' && !(mode.speed > 0 && Number.isFinite(mode.speed))) {
      throw new RangeError(`speed must be a positive number, got ${mode.speed}`);
    }
    this.base = base;
    this.mode = mode;
    this.calendar = calendar;
    this.realStart = base.nowMicros();
    const today = chinaDate(this.realStart);
    // A simulated day is a trading day: today if it is one, else the next.
    this.tradingDate = mode.kind === 'accelerated' && !calendar.isTradingDay(today) ? calendar.nextTradingDay(today) : today;
    this.simStart =
      mode.kind === 'accelerated' ? chinaInstant(this.tradingDate, 0, 0) + mode.startTimeOfDay : this.realStart;
  }

  /** The simulated instant (equal to real time except in accelerated mode). */
  nowMicros(): Micros {
    const real = this.base.nowMicros();
    if (this.mode.kind !== 'accelerated') return real;
    return this.simStart + Math.round((real - this.realStart) * this.mode.speed);
  }

  /** The trading phase for a board now. */
  phase(board?: Board): Phase {
    switch (this.mode.kind) {
      case 'continuous':
        return Phase.CONTINUOUS;
      case 'real':
        return phaseAtInstant(this.nowMicros(), this.calendar, board);
      case 'accelerated': {
        const now = this.nowMicros();
        // The simulated day ends at midnight: after that the market stays closed.
        if (now - chinaInstant(this.tradingDate, 0, 0) >= MICROS_PER_DAY) return Phase.CLOSED;
        return phaseAt(chinaTimeOfDay(now), board);
      }
    }
  }

  describe(): string {
    switch (this.mode.kind) {
      case 'continuous':
        return 'continuous trading (always open)';
      case 'real':
        return 'real exchange hours (China time)';
      case 'accelerated':
        return `simulated day ${this.tradingDate} from ${formatTimeOfDay(this.mode.startTimeOfDay)} at ${this.mode.speed}x`;
    }
  }
}

export function formatTimeOfDay(micros: Micros): string {
  const seconds = Math.floor(micros / 1_000_000);
  const hh = String(Math.floor(seconds / 3600)).padStart(2, '0');
  const mm = String(Math.floor(seconds / 60) % 60).padStart(2, '0');
  const ss = String(seconds % 60).padStart(2, '0');
  return `${hh}:${mm}:${ss}`;
}
