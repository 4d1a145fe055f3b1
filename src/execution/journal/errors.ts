/** Typed failures of the audit journal (stable codes; see src/core/errors.ts). */
import { TriquantError } from '../../core/errors.ts';

/** Another process or connection already writes this journal: two execution services must never interleave one chain. */
export class JournalLockedError extends TriquantError {
  readonly path: string;

  constructor(path: string, options?: { cause?: unknown }) {
    super(
      'JOURNAL_LOCKED',
      `audit journal ${path} is already open for writing by another process or connection; ` +
        'only one execution service may write a journal (stop the other one, or point this one at its own dataDir)',
      options,
    );
    this.path = path;
  }
}

/** The journal file does not exist (reading never creates one: an empty answer would hide a wrong path). */
export class JournalNotFoundError extends TriquantError {
  readonly path: string;

  constructor(path: string) {
    super('JOURNAL_NOT_FOUND', `audit journal ${path} does not exist (check --journal or dataDir)`);
    this.path = path;
  }
}

/** A record that cannot be journaled as given (not JSON-safe, unknown kind, bad field type). */
export class JournalDataError extends TriquantError {
  constructor(message: string) {
    super('JOURNAL_DATA', message);
  }
}

/** The file is not a journal this version understands, or the handle cannot do what was asked. */
export class JournalStateError extends TriquantError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('JOURNAL_STATE', message, options);
  }
}
