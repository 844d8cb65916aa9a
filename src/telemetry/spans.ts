// Child spans for compute (train epoch, predict chunk, checkpoint write, restore) under whatever
// span is active: the RPC's, found through async context.
import { type Attributes, SpanStatusCode, type Tracer, trace } from "@opentelemetry/api";
import { type Metrics, noMetrics } from "./metrics.js";

export interface Observability {
  tracer: Tracer;
  metrics: Metrics;
}

/** For code that runs outside a server (offline CLI checks): records nothing. */
export const unobserved: Observability = { tracer: trace.getTracer("modelbay-unobserved"), metrics: noMetrics };

export function inSpan<T>(tracer: Tracer, name: string, attributes: Attributes, fn: () => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn();
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}
