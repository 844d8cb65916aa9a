// OpenTelemetry for one server: a span per RPC (continuing the caller's W3C trace context) with
// child spans for compute, and metrics served for Prometheus on an HTTP port. Spans are exported
// over OTLP when the standard OTEL_EXPORTER_OTLP_* variables name an endpoint (or to an exporter a
// test provides); without one, tracing costs nothing. Each server owns its providers, so several
// servers in one process (the tests) do not share state.
import http from "node:http";
import { context, type Meter, propagation, type Tracer, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import { createMetrics, type Metrics } from "./metrics.js";

export interface TelemetryOptions {
  /** host:port of the Prometheus /metrics endpoint; "" serves none. */
  metricsAddress: string;
  /** Where spans go; default OTLP when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set, else nowhere. */
  spanExporter?: SpanExporter;
  version: string;
}

export interface Telemetry {
  tracer: Tracer;
  metrics: Metrics;
  /** The bound metrics address (with the real port), or "". */
  metricsAddress: string;
  /** Exports the spans finished so far (they leave in batches). */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

let contextManagerSet = false;

function spanExporterFromEnv(env: NodeJS.ProcessEnv): SpanExporter | undefined {
  const configured = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!configured || env.OTEL_TRACES_EXPORTER === "none") return undefined;
  return new OTLPTraceExporter();
}

async function serveMetrics(
  exporter: PrometheusExporter,
  address: string,
): Promise<{ server: http.Server; bound: string }> {
  const host = address.slice(0, address.lastIndexOf(":"));
  const port = Number(address.slice(address.lastIndexOf(":") + 1));
  const server = http.createServer((req, res) => {
    if (req.url?.split("?")[0] === "/metrics") return exporter.getMetricsRequestHandler(req, res);
    res.statusCode = 404;
    res.end("not found: metrics are at /metrics\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const a = server.address();
  return { server, bound: typeof a === "object" && a ? `${host}:${a.port}` : address };
}

export async function startTelemetry(opts: TelemetryOptions, env: NodeJS.ProcessEnv = process.env): Promise<Telemetry> {
  const resource = resourceFromAttributes({
    "service.name": env.OTEL_SERVICE_NAME || "modelbay",
    "service.version": opts.version,
  });

  const spanExporter = opts.spanExporter ?? spanExporterFromEnv(env);
  const tracerProvider = spanExporter
    ? new BasicTracerProvider({
        resource,
        spanProcessors: [new BatchSpanProcessor(spanExporter)],
      })
    : undefined;
  // Child spans find their parent through async context; one manager serves the whole process.
  // Only when spans are exported: Node 20's AsyncLocalStorage hooks every promise the process
  // creates, and each call's context costs ~17 us of the RPC thread (a profile of unary Predict).
  if (tracerProvider && !contextManagerSet) {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    // Incoming calls carry their caller's trace in W3C `traceparent` metadata.
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    contextManagerSet = true;
  }
  const tracer = tracerProvider ? tracerProvider.getTracer("modelbay", opts.version) : trace.getTracer("modelbay-noop");

  const prometheus = opts.metricsAddress ? new PrometheusExporter({ preventServerStart: true }) : undefined;
  const meterProvider = new MeterProvider({ resource, readers: prometheus ? [prometheus] : [] });
  const meter: Meter = meterProvider.getMeter("modelbay", opts.version);
  const served = prometheus ? await serveMetrics(prometheus, opts.metricsAddress) : undefined;

  return {
    tracer,
    metrics: createMetrics(meter),
    metricsAddress: served?.bound ?? "",
    flush: async () => {
      await tracerProvider?.forceFlush();
    },
    async shutdown() {
      await new Promise<void>((resolve) => (served ? served.server.close(() => resolve()) : resolve()));
      await meterProvider.shutdown();
      await tracerProvider?.shutdown();
    },
  };
}
