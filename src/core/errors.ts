/**
 * One named error per failure, each with a stable `code` and an optional `cause`.
 * `retryable` separates transient network trouble (try again) from terminal errors.
 * Risk never throws: it denies with a reason code (see risk). These errors are for
 * programming mistakes, bad input and infrastructure failures.
 */
export class TriquantError extends Error {
  readonly code: string;
  readonly retryable: boolean;

  constructor(code: string, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options?.retryable ?? false;
  }
}

/** Input that does not satisfy a contract (a malformed request, an impossible value). */
export class ValidationError extends TriquantError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('VALIDATION', message, options);
  }
}

/** A configuration value that is missing or wrong; `key` names it (dotted path). */
export class ConfigError extends TriquantError {
  readonly key: string;

  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super('CONFIG', `config ${key}: ${message}`, options);
    this.key = key;
  }
}

/** A transient transport failure: the operation may succeed if retried. */
export class NetworkError extends TriquantError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NETWORK', message, { ...options, retryable: true });
  }
}

/** A venue or broker said no in a way that retrying will not change. */
export class VenueError extends TriquantError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('VENUE', message, options);
  }
}

/** A feature that is planned but not built yet. */
export class NotImplementedError extends TriquantError {
  constructor(message: string) {
    super('NOT_IMPLEMENTED', message);
  }
}
