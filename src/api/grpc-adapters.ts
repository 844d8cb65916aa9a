// Adapts domain-style handlers (async functions and async generators taking an AbortSignal) to
// grpc-js calls: one place maps errors to status, honours cancellation, deadlines and backpressure.
import type * as grpc from "@grpc/grpc-js";
import {
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type Tracer,
} from "@opentelemetry/api";
import { Code, ModelbayError, toErrorStatus } from "../errors.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../telemetry/metrics.js";

export interface CallContext {
  /** Aborted when the client cancels, the deadline passes or the server shuts down. */
  signal: AbortSignal;
  /** When the caller stops waiting, in epoch milliseconds (`Date.now()`); undefined for no deadline. */
  readonly deadline: number | undefined;
  /**
   * Calls `listener` once if the client cancels the call (its deadline passing counts too). Much
   * cheaper than `signal`, for unary handlers.
   */
  onCancel(listener: () => void): void;
}

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

// setTimeout's limit (about 24.8 days); a later deadline cannot pass during a call worth timing.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The call's deadline in epoch milliseconds; grpc-js gives a Date, or a number (Infinity for none). */
function deadlineOf(call: AnyCall): number | undefined {
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * The call's context. Its signal is set up on first use: most unary handlers never look at it, and
 * an AbortController with its listeners and deadline timer cost ~13 us per call (profiled: Predict
 * at 64 callers). A class, not closures over the call: a context made of per-call closures and an
 * object literal with accessors made V8 keep ~2.3 MB of each 100 ms of calls past two young
 * collections, so every scavenge copied and promoted it (8-10 ms each on the RPC thread, against
 * 1-6 ms without; measured with --trace-gc-nvp under 64 callers).
 */
class GrpcCallContext implements CallContext {
  private controller: AbortController | undefined;
  private cleanup: (() => void) | undefined;
  private cancelListeners: (() => void)[] | undefined;

  constructor(
    private readonly call: AnyCall,
    private readonly shutdown: AbortSignal,
  ) {}

  get signal(): AbortSignal {
    if (!this.controller) this.controller = this.setUp();
    return this.controller.signal;
  }

  get deadline(): number | undefined {
    return deadlineOf(this.call);
  }

  // A property, not a method: the domain takes it off the context (a PredictWait) and calls it alone.
  readonly onCancel = (listener: () => void): void => {
    if (this.call.cancelled) {
      listener();
      return;
    }
    this.call.once("cancelled", listener);
    this.cancelListeners ??= [];
    this.cancelListeners.push(listener);
  };

  /** Removes what the call registered; called once the call has ended. */
  done(): void {
    this.cleanup?.();
    for (const listener of this.cancelListeners ?? []) this.call.removeListener("cancelled", listener);
  }

  private setUp(): AbortController {
    const { call, shutdown } = this;
    const controller = new AbortController();
    const onCancel = () => controller.abort(new ModelbayError(Code.CANCELLED, "the client cancelled the call"));
    const onShutdown = () => controller.abort(new ModelbayError(Code.UNAVAILABLE, "the server is shutting down"));
    call.on("cancelled", onCancel);
    shutdown.addEventListener("abort", onShutdown, { once: true });
    const deadline = deadlineOf(call);
    const ms = deadline === undefined ? Number.POSITIVE_INFINITY : deadline - Date.now();
    const timer =
      Number.isFinite(ms) && ms > 0 && ms <= MAX_TIMER_MS
        ? setTimeout(() => controller.abort(new ModelbayError(Code.DEADLINE_EXCEEDED, "the deadline passed")), ms)
        : undefined;
    this.cleanup = () => {
      clearTimeout(timer);
      call.removeListener("cancelled", onCancel);
      shutdown.removeEventListener("abort", onShutdown);
    };
    // What happened before the first look counts too.
    if (call.cancelled) onCancel();
    else if (shutdown.aborted) onShutdown();
    return controller;
  }
}

function serviceError(err: unknown, method: string, log: Logger): Partial<grpc.ServiceError> {
  const { code, details } = toErrorStatus(err, (e) => log.error("unexpected error", { method, err: e }));
  return { code, details, message: details };
}

export interface AdapterDeps {
  log: Logger;
  shutdown: AbortSignal;
  telemetry: { tracer: Tracer; metrics: Metrics };
}

const metadataGetter: TextMapGetter<grpc.Metadata> = {
  keys: (m) => Object.keys(m.getMap()),
  get: (m, key) => {
    const values = m.get(key);
    return values.length ? values.map(String) : undefined;
  },
};

/** The model a request is about, as a bounded label: ModelService's model_id, KServe's model_name. */
function modelOf(request: unknown): string {
  const r = request as { modelId?: unknown; modelName?: unknown } | undefined;
  const id = r?.modelId ?? r?.modelName;
  return typeof id === "string" ? id : "";
}

/** How a call ended. */
interface Outcome {
  code: number;
  details?: string | undefined;
}

/**
 * Runs one RPC inside a server span that continues the caller's W3C trace context, then records
 * its status and latency and logs one line for it (with the trace id).
 */
function observed(method: string, call: AnyCall, deps: AdapterDeps, run: () => Promise<Outcome>): void {
  const parent = propagation.extract(ROOT_CONTEXT, call.metadata, metadataGetter);
  const modelId = modelOf(call.request);
  const started = performance.now();
  const attributes = {
    "rpc.system": "grpc",
    "rpc.method": method,
    ...(modelId ? { "modelbay.model_id": modelId } : {}),
  };
  deps.telemetry.tracer.startActiveSpan(method, { kind: SpanKind.SERVER, attributes }, parent, (span) => {
    void run().then(({ code, details }) => {
      const ms = performance.now() - started;
      deps.log.info("rpc", {
        method,
        code,
        ...(modelId ? { model: modelId } : {}),
        ms,
        ...(details ? { details } : {}),
      });
      span.setAttribute("rpc.grpc.status_code", code);
      if (code !== 0) span.setStatus({ code: SpanStatusCode.ERROR, ...(details ? { message: details } : {}) });
      span.end();
      deps.telemetry.metrics.rpc(method, code, modelId, ms / 1000);
    });
  });
}

export function unary<Req, Res>(
  method: string,
  deps: AdapterDeps,
  fn: (request: Req, ctx: CallContext) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) =>
    observed(method, call as AnyCall, deps, async () => {
      const ctx = new GrpcCallContext(call as AnyCall, deps.shutdown);
      try {
        const res = await fn(call.request, ctx);
        callback(null, res);
        return { code: 0 };
      } catch (err) {
        const status = serviceError(err, method, deps.log);
        callback(status as grpc.ServiceError);
        return { code: status.code ?? Code.UNKNOWN, details: status.details };
      } finally {
        ctx.done();
      }
    });
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
    const ctx = new GrpcCallContext(call as AnyCall, deps.shutdown);
    const run = async (): Promise<Outcome> => {
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
        return { code: 0 };
      } catch (err) {
        await iterator.return?.();
        if (call.cancelled) return { code: Code.CANCELLED, details: "the client cancelled the call" };
        const reason = ctx.signal.aborted ? ctx.signal.reason : err;
        const status = serviceError(reason, method, deps.log);
        call.emit("error", status);
        return { code: status.code ?? Code.UNKNOWN, details: status.details };
      } finally {
        ctx.signal.removeEventListener("abort", onAbort);
      }
    };
    observed(method, call as AnyCall, deps, () => run().finally(() => ctx.done()));
  };
}

/**
 * A method whose responses are encoded into a buffer grpc-js frames as it is: the generated
 * serializer copies each encoded message once more first (Buffer.from of the encoder's output), a
 * copy per PredictStream chunk and per Predict that only feeds the garbage collector.
 */
export function encodingResponsesInPlace<Req, Res>(
  method: grpc.MethodDefinition<Req, Res>,
  codec: { encode(message: Res): { finish(): Uint8Array } },
): grpc.MethodDefinition<Req, Res> {
  return {
    ...method,
    responseSerialize: (value: Res) => {
      const bytes = codec.encode(value).finish();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
  };
}
