// The one error type of modelbay. Domain code throws it with a gRPC status code number so that
// api/ can answer without guessing; compute/ and the domain folders never import gRPC itself.

/** gRPC status codes (same numbers as grpc.status), kept here so the domain needs no gRPC import. */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type Code = (typeof Code)[keyof typeof Code];

/** An error whose message is meant for the client. */
export class ModelbayError extends Error {
  override readonly name = "ModelbayError";
  constructor(
    readonly code: Code,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** INVALID_ARGUMENT naming the offending field, e.g. `spec.sequential.layers[1].dense.units`. */
export function invalidArgument(field: string, problem: string): ModelbayError {
  return new ModelbayError(Code.INVALID_ARGUMENT, `${field}: ${problem}`);
}

/** What was thrown, as text for a message. */
export function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * `err` as a ModelbayError: itself if it is one, else `code` with "`what`: reason", keeping `err`
 * as the cause. For failures of a library that are the caller's (a bad file, a bad topology).
 */
export function thrownAs(code: Code, what: string, err: unknown, reason = reasonOf(err)): ModelbayError {
  if (err instanceof ModelbayError) return err;
  return new ModelbayError(code, `${what}: ${reason}`, { cause: err });
}

export function notFound(what: string): ModelbayError {
  return new ModelbayError(Code.NOT_FOUND, `${what} not found`);
}

/**
 * Work given up because its caller stopped waiting: DEADLINE_EXCEEDED when the deadline passed
 * (`expired`), CANCELLED when the caller cancelled; `detail` (with its leading space or
 * punctuation) says what happened to the work.
 */
export function callerGone(expired: boolean, detail: string): ModelbayError {
  return expired
    ? new ModelbayError(Code.DEADLINE_EXCEEDED, `the deadline passed${detail}`)
    : new ModelbayError(Code.CANCELLED, `the caller cancelled${detail}`);
}

/** What a client is told about any thrown value. Internals never leak: unknown errors are logged. */
export interface ErrorStatus {
  code: Code;
  details: string;
}

export function toErrorStatus(err: unknown, logUnexpected: (err: unknown) => void): ErrorStatus {
  if (err instanceof ModelbayError) return { code: err.code, details: err.message };
  if (err instanceof Error && err.name === "AbortError") {
    const reason = (err as Error & { cause?: unknown }).cause;
    if (reason instanceof ModelbayError) return { code: reason.code, details: reason.message };
    return { code: Code.CANCELLED, details: "the call was cancelled" };
  }
  if (err instanceof Error && err.name === "TimeoutError") {
    return { code: Code.DEADLINE_EXCEEDED, details: "the deadline passed" };
  }
  logUnexpected(err);
  return { code: Code.INTERNAL, details: "internal error; the server log has the details" };
}
