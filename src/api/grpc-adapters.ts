// Adapts domain-style handlers (async functions and async generators taking an AbortSignal) to
// grpc-js calls: one place maps errors to status, honours cancellation, deadlines and backpressure.
import type * as grpc from "@grpc/grpc-js";
import { Code, ModelbayError, toErrorStatus } from "../errors.js";
import type { Logger } from "../log.js";

export interface CallContext {
  /** Aborted when the client cancels, the deadline passes or the server shuts down. */
  signal: AbortSignal;
}

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

// setTimeout's limit (about 24.8 days); a later deadline cannot pass during a call worth timing.
const MAX_TIMER_MS = 2 ** 31 - 1;

function callContext(call: AnyCall, shutdown: AbortSignal): { ctx: CallContext; done: () => void } {
  const controller = new AbortController();
  const onCancel = () => controller.abort(new ModelbayError(Code.CANCELLED, "the client cancelled the call"));
  const onShutdown = () => controller.abort(new ModelbayError(Code.UNAVAILABLE, "the server is shutting down"));
  call.on("cancelled", onCancel);
  shutdown.addEventListener("abort", onShutdown, { once: true });
  // grpc-js gives the deadline as a Date or as absolute epoch milliseconds (Infinity for none).
  const deadline = call.getDeadline();
  const ms = (deadline instanceof Date ? deadline.getTime() : Number(deadline)) - Date.now();
  const timer =
    Number.isFinite(ms) && ms > 0 && ms <= MAX_TIMER_MS
      ? setTimeout(() => controller.abort(new ModelbayError(Code.DEADLINE_EXCEEDED, "the deadline passed")), ms)
      : undefined;
  return {
    ctx: { signal: controller.signal },
    done: () => {
      clearTimeout(timer);
      call.removeListener("cancelled", onCancel);
      shutdown.removeEventListener("abort", onShutdown);
    },
  };
}

function serviceError(err: unknown, method: string, log: Logger): Partial<grpc.ServiceError> {
  const { code, details } = toErrorStatus(err, (e) => log.error("unexpected error", { method, err: e }));
  return { code, details, message: details };
}

export interface AdapterDeps {
  log: Logger;
  shutdown: AbortSignal;
}

export function unary<Req, Res>(
  method: string,
  deps: AdapterDeps,
  fn: (request: Req, ctx: CallContext) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const { ctx, done } = callContext(call as AnyCall, deps.shutdown);
    const started = performance.now();
    fn(call.request, ctx)
      .then(
        (res) => {
          deps.log.debug("rpc", { method, code: 0, ms: performance.now() - started });
          callback(null, res);
        },
        (err: unknown) => {
          const status = serviceError(err, method, deps.log);
          deps.log.info("rpc", { method, code: status.code, details: status.details, ms: performance.now() - started });
          callback(status as grpc.ServiceError);
        },
      )
      .finally(done);
  };
}

// Messages written but not yet taken by HTTP/2 flow control. grpc-js buffers 16 objects before
// write() returns false, and HTTP/2 more; counting write callbacks instead keeps the producer at most
// this many messages ahead of what the client has accepted.
const MAX_IN_FLIGHT = 2;

/**
 * Serves an async generator as a server stream. The generator is pulled only when fewer than
 * MAX_IN_FLIGHT messages wait on the transport, so a slow reader slows the producer; on cancel the
 * generator is closed with return(), which runs its finally blocks.
 */
export function serverStream<Req, Res>(
  method: string,
  deps: AdapterDeps,
  fn: (request: Req, ctx: CallContext) => AsyncIterable<Res>,
): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    const { ctx, done } = callContext(call as AnyCall, deps.shutdown);
    const run = async () => {
      const iterator = fn(call.request, ctx)[Symbol.asyncIterator]();
      let inFlight = 0;
      let wake: (() => void) | undefined;
      const written = () => {
        inFlight--;
        wake?.();
      };
      const onAbort = () => wake?.();
      ctx.signal.addEventListener("abort", onAbort);
      try {
        for (;;) {
          while (inFlight >= MAX_IN_FLIGHT && !ctx.signal.aborted) {
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            wake = undefined;
          }
          ctx.signal.throwIfAborted();
          const next = await iterator.next();
          if (next.done) break;
          inFlight++;
          call.write(next.value, written);
        }
        call.end();
      } catch (err) {
        await iterator.return?.();
        if (call.cancelled) return;
        const reason = ctx.signal.aborted ? ctx.signal.reason : err;
        call.emit("error", serviceError(reason, method, deps.log));
      } finally {
        ctx.signal.removeEventListener("abort", onAbort);
      }
    };
    run().finally(done);
  };
}
