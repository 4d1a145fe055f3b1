/** Command-line value parsers shared by the commands: each throws commander's InvalidArgumentError with the reason. */
import { InvalidArgumentError } from 'commander';

export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new InvalidArgumentError(`expected a port 0-65535, got "${value}"`);
  return n;
}

export function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got "${value}"`);
  return n;
}

export function parseWholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number, got "${value}"`);
  return n;
}

/** `host:port` of a service to connect to (port 0 is refused: it names no listener). */
export function parseHostPort(value: string): { host: string; port: number } {
  const match = /^([^:\s]+):(\d{1,5})$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError(`expected host:port, got "${value}"`);
  const port = parsePort(match[2]!);
  if (port === 0) throw new InvalidArgumentError(`port 0 names no listener: "${value}"`);
  return { host: match[1]!, port };
}

/** `host:port` as text, checked by parseHostPort. */
export function parseAddress(value: string): string {
  const { host, port } = parseHostPort(value);
  return `${host}:${port}`;
}
