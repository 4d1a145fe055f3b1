/**
 * Structured logging for services: one line per event, either JSON (for machines and log
 * shippers) or `time level component message key=value` (for people at a terminal).
 * Hand-written because it is forty lines and services need nothing more; swap for pino if
 * log volume ever matters (it does not on the hot path: hot paths count, they do not log).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  format?: 'json' | 'text';
  component?: string;
  write?: (line: string) => void;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const min = RANK[options.level ?? 'info'];
  const format = options.format ?? (process.stderr.isTTY ? 'text' : 'json');
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const component = options.component ?? 'triquant';
  const emit = (level: LogLevel, message: string, fields?: Record<string, unknown>) => {
    if (RANK[level] < min) return;
    const time = new Date().toISOString();
    if (format === 'json') {
      // Fields never overwrite the fixed keys; those stay first for readability.
      const head = { time, level, component, msg: message };
      write(`${JSON.stringify(fields ? Object.assign({ ...head }, fields, head) : head, jsonSafe)}\n`);
    } else {
      const extra = fields ? Object.entries(fields).map(([k, v]) => ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v, jsonSafe)}`).join('') : '';
      write(`${time.slice(11, 23)} ${level.toUpperCase().padEnd(5)} ${component}: ${message}${extra}\n`);
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (name) => createLogger({ ...options, component: `${component}.${name}`, format, write }),
  };
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
  return value;
}
