// Cost of tracing and metrics on unary Predict: two servers in one process, one with a span per
// RPC (exported to a discarding exporter) and a Prometheus endpoint being scraped, one without;
// 1-row Predicts from 8 concurrent callers over loopback, alternating rounds, median ratio.
// Run: npx tsx bench/telemetry-overhead.ts
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ExportResultCode } from "@opentelemetry/core";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";
import { connect } from "../src/cli/client.js";
import { classicDenseSpec } from "../src/cli/example-specs.js";
import { floatTensor } from "../src/cli/tensors.js";
import { silentLogger } from "../src/log.js";
import { type RunningServer, startServer } from "../src/server.js";
import { closedLoopRate, runBench } from "./harness.js";

const ROUND_MS = 3000;
const ROUNDS = 4;
const CALLERS = 8;

let exported = 0;
const discard: SpanExporter = {
  export(spans: ReadableSpan[], done) {
    exported += spans.length;
    done({ code: ExportResultCode.SUCCESS });
  },
  shutdown: async () => {},
};

async function rate(server: RunningServer): Promise<number> {
  const client = connect(server.address);
  const input = floatTensor(
    Float32Array.from({ length: 10 }, (_, i) => i / 10),
    [1, 10],
    true,
  );
  const perSecond = await closedLoopRate(CALLERS, ROUND_MS, () =>
    client.predict({ modelId: "m", inputs: [input], rawOutput: true }),
  );
  client.close();
  return perSecond;
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-bench-"));
  const off = await startServer({ address: "127.0.0.1:0", checkpointDir: path.join(dir, "a"), log: silentLogger });
  const on = await startServer({
    address: "127.0.0.1:0",
    checkpointDir: path.join(dir, "b"),
    log: silentLogger,
    metricsAddress: "127.0.0.1:0",
    spanExporter: discard,
  });
  const scraper = setInterval(() => void fetch(`http://${on.metricsAddress}/metrics`).then((r) => r.text()), 1000);
  try {
    for (const s of [off, on]) {
      const c = connect(s.address);
      await c.createModel({ modelId: "m", spec: classicDenseSpec(1) });
      c.close();
      await rate(s);
    }
    const ratios: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const a = await rate(off);
      const b = await rate(on);
      ratios.push(b / a);
      process.stdout.write(
        `round ${r + 1}: off ${a.toFixed(0)} calls/s, on ${b.toFixed(0)} calls/s, ratio ${(b / a).toFixed(3)}\n`,
      );
    }
    ratios.sort((x, y) => x - y);
    const median = ((ratios[1] as number) + (ratios[2] as number)) / 2;
    process.stdout.write(
      `Predict (1 row, ${CALLERS} callers) with tracing + metrics vs without: median ratio ${median.toFixed(3)} (${((1 - median) * 100).toFixed(1)}% cost); ${exported} spans exported\n`,
    );
  } finally {
    clearInterval(scraper);
    await on.shutdown();
    await off.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runBench(main);
