/**
 * Typed errors of broker adapters (any `BrokerAdapter`, not only FIX). The OMS branches on the
 * class or on `retryable`: a retryable error means "nothing was handed to the venue, try
 * again later"; the others are final for that call.
 */
import { NetworkError, TriquantError, VenueError } from '../../core/errors.ts';

/** Not logged on to the venue (before the first logon, or between a drop and the reconnect). */
export class BrokerNotConnectedError extends NetworkError {}

/** The venue did not answer in time (reconcile). The request may still be answered later. */
export class BrokerTimeoutError extends NetworkError {}

/** The adapter was closed; it will not reconnect. */
export class BrokerClosedError extends TriquantError {
  constructor(message: string) {
    super('BROKER_CLOSED', message);
  }
}

/**
 * This ClOrdID was already sent (in this process or, from the durable store, before a
 * restart): sending it again could create a second venue order, so nothing was sent. The
 * order is at the venue or on its way (FIX resend); `reconcile` tells its state.
 */
export class DuplicateClientOrderIdError extends TriquantError {
  readonly clientOrderId: string;

  constructor(clientOrderId: string) {
    super('BROKER_DUPLICATE_ORDER', `ClOrdID ${clientOrderId} was already sent to the venue; not sending it again`);
    this.clientOrderId = clientOrderId;
  }
}

/** The venue refused a request in a way that is not an order event (e.g. status requests unsupported). */
export class BrokerRequestRejectedError extends VenueError {}
