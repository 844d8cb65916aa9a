// Health check latency while the server is busy: 1M-row PredictStreams (rows inline, then from a
// data_path file) and a training job keep both cores working, from a load client in its own
// process, while two checkers in their own processes check health every 20 ms at the same time: a
// Go one (clients/go/cmd/health-probe; the kubelet's gRPC probe and grpc_health_probe are Go
// programs) and a Node.js one (bench/health-probe.ts). The server runs as `modelbay serve` in its
// own process, once with setting A (default: none, the server as it is by default) and once with
// setting B (default: --background-nice 10, every thread but the RPC thread at a lower priority),
// in an order that alternates over ROUNDS (default 1). A and B are server flags and/or VAR=value
// environment settings, as in bench/server-settings.ts. Prints p50/p99/max per checker, the same
// with the server idle, and the p99 ratios B / A. Goal: p99 < 10 ms under load.
// CONTROL=1 also checks, under each load, a second `modelbay serve` beside it that has nothing to
// do: what the checkers' own waits for a core cost, which no setting of the loaded server reaches.
// Run: npx tsx bench/health-under-load.ts   (ROUNDS=3 to repeat; A="...", B="..."; CONTROL=1)
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect } from "../src/cli/client.js";
import { classicDenseSpec } from "../src/cli/example-specs.js";
import { writeNpy } from "../src/datasets/npy.js";
import { runBench } from "./harness.js";
import { serveForBench } from "./serve-process.js";

const SECONDS = 8;
const STREAM_ROWS = 1_000_000;
const ROUNDS = Number(process.env.ROUNDS ?? 1);
const A = process.env.A ?? "";
const B = process.env.B ?? "--background-nice 10";
const CONTROL = process.env.CONTROL === "1";
const cache = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "modelbay");
const goProbe = path.join(cache, "go-bin", "modelbay-health-probe");

/** Builds the Go checker into the user cache dir (Go's build cache makes a rebuild quick). */
function buildGoProbe(): void {
  execFileSync("go", ["build", "-o", goProbe, "./cmd/health-probe"], {
    cwd: path.resolve(import.meta.dirname, "../clients/go"),
    stdio: "inherit",
  });
}

/** Runs a child to its end and returns its stdout; fails on a non-zero exit. */
async function output(child: ChildProcess, what: string): Promise<string> {
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const code = await new Promise((resolve) => child.on("exit", resolve));
  if (code !== 0) throw new Error(`${what} exited with ${code}`);
  return out;
}

/** A health checker in its own process: the Go one or bench/health-probe.ts. Latencies in ms, sorted. */
async function probe(kind: "go" | "node", address: string, seconds: number): Promise<number[]> {
  const [command, args] =
    kind === "go"
      ? [goProbe, ["-server", address, "-seconds", String(seconds)]]
      : [
          process.execPath,
          ["--import", "tsx", path.join(import.meta.dirname, "health-probe.ts"), address, String(seconds)],
        ];
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
  return JSON.parse(await output(child, `the ${kind} health probe`)) as number[];
}

async function healthLatencies(address: string, seconds: number) {
  const [go, node] = await Promise.all([probe("go", address, seconds), probe("node", address, seconds)]);
  return { go, node };
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] as number;
const report = (label: string, xs: number[]) =>
  `${label}: ${xs.length} checks, p50 ${pct(xs, 50).toFixed(2)} ms, p99 ${pct(xs, 99).toFixed(2)} ms, max ${(xs.at(-1) ?? 0).toFixed(2)} ms`;

type Load = "inline" | "data_path";
type P99s = Record<Load, { go: number; node: number }>;

/** Idle checks, then checks under each load, against a server with the given setting. */
async function measure(setting: string): Promise<P99s> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-bench-"));
  const rows = Float32Array.from({ length: STREAM_ROWS * 10 }, (_, i) => Math.sin(i));
  fs.writeFileSync(path.join(dir, "rows.npy"), writeNpy({ dtype: "float32", shape: [STREAM_ROWS, 10], data: rows }));
  const served = await serveForBench(dir, setting);
  const { address } = served;
  const client = connect(address);
  const control = CONTROL ? await serveForBench(fs.mkdtempSync(path.join(dir, "control-")), "") : undefined;
  const p99s = {} as P99s;
  try {
    process.stdout.write(`server with ${label(setting)}:\n`);
    await client.createModel({ modelId: "stream", spec: classicDenseSpec(1) });
    await client.createModel({ modelId: "train", spec: classicDenseSpec(2) });
    const idle = await healthLatencies(address, 3);
    process.stdout.write(`  ${report("idle, Go checker", idle.go)}\n  ${report("idle, Node.js checker", idle.node)}\n`);
    for (const source of ["inline", "data_path"] as const) {
      // Rows inline: a 40 MB request, its ~2,500 HTTP/2 frames assembled on the RPC thread; data_path:
      // a .npy under the data root, read a chunk at a time.
      const load = spawn(
        process.execPath,
        ["--import", "tsx", path.join(import.meta.dirname, "load-client.ts"), address, source, String(STREAM_ROWS)],
        { stdio: ["pipe", "pipe", "inherit"] },
      );
      const streamed = output(load, "the load client");
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const loaded = await healthLatencies(address, SECONDS);
      const beside = control && (await healthLatencies(control.address, SECONDS));
      load.stdin?.end();
      const where = source === "inline" ? "inline" : "from data_path";
      process.stdout.write(`  under load (PredictStream ${(await streamed).trim()} rows ${where} + training):\n`);
      process.stdout.write(`    ${report("Go checker", loaded.go)}\n    ${report("Node.js checker", loaded.node)}\n`);
      if (beside) {
        process.stdout.write(`    the idle server beside it, ${report("Go checker", beside.go)}\n`);
        process.stdout.write(`    the idle server beside it, ${report("Node.js checker", beside.node)}\n`);
      }
      p99s[source] = { go: pct(loaded.go, 99), node: pct(loaded.node, 99) };
    }
    return p99s;
  } finally {
    client.close();
    await served.stop();
    await control?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const label = (setting: string) => (setting.trim() ? `"${setting.trim()}"` : "the defaults");

async function main() {
  buildGoProbe();
  const verdict = (ms: number) => (ms < 10 ? "met" : "NOT met");
  for (let round = 0; round < ROUNDS; round++) {
    const results = new Map<string, P99s>();
    for (const name of round % 2 === 0 ? ["A", "B"] : ["B", "A"]) {
      results.set(name, await measure(name === "A" ? A : B));
    }
    for (const source of ["inline", "data_path"] as const) {
      const [a, b] = [(results.get("A") as P99s)[source], (results.get("B") as P99s)[source]];
      process.stdout.write(
        `round ${round + 1}, ${source}: p99 with A (${label(A)}) / B (${label(B)}): ` +
          `Go checker ${a.go.toFixed(2)} / ${b.go.toFixed(2)} ms (${(b.go / a.go).toFixed(2)}x), ` +
          `Node.js checker ${a.node.toFixed(2)} / ${b.node.toFixed(2)} ms (${(b.node / a.node).toFixed(2)}x); ` +
          `goal p99 < 10 ms with A: Go ${verdict(a.go)}, Node.js ${verdict(a.node)}; ` +
          `with B: Go ${verdict(b.go)}, Node.js ${verdict(b.node)}\n`,
      );
    }
  }
}

runBench(main);
