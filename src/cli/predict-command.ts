// `modelbay predict`: rows from a local .npy (or a file under the server's data root) through
// PredictStream, the output written as a .npy file or the outputs printed as JSON.
import fs from "node:fs";
import { tensorToWire } from "../api/tensor-codec.js";
import type { TensorData } from "../compute/tensor-data.js";
import { readNpy, writeNpy } from "../datasets/npy.js";
import type { PredictStreamRequest } from "../gen/modelbay/v1/model_service.js";
import { options, UsageError } from "./args.js";
import { connect, defaultServerAddress } from "./client.js";
import { tensorToJson } from "./goldens-file.js";
import { ProgressLine } from "./progress.js";
import { fromServer } from "./tensors.js";

/** Chunks in row order, joined into one tensor per output. */
class OutputAssembly {
  private readonly parts = new Map<string, TensorData[]>();
  rows = 0;

  add(offset: number, outputs: { name: string; tensor: TensorData }[]): void {
    // The server streams chunks in order; a gap would mean rows were lost, so say so.
    if (offset !== this.rows) throw new Error(`chunk at row ${offset} arrived after ${this.rows} rows`);
    for (const o of outputs) {
      const list = this.parts.get(o.name) ?? [];
      list.push(o.tensor);
      this.parts.set(o.name, list);
    }
    this.rows += outputs[0]?.tensor.shape[0] ?? 0;
  }

  joined(): { name: string; tensor: TensorData }[] {
    return [...this.parts].map(([name, chunks]) => {
      const first = chunks[0] as TensorData;
      const Ctor = first.data.constructor as new (n: number) => TensorData["data"];
      const data = new Ctor(chunks.reduce((n, c) => n + c.data.length, 0));
      let at = 0;
      for (const c of chunks) {
        data.set(c.data as never, at);
        at += c.data.length;
      }
      return { name, tensor: { dtype: first.dtype, shape: [this.rows, ...first.shape.slice(1)], data } };
    });
  }
}

export async function predictCommand(args: string[]): Promise<number> {
  const o = options(args, ["server", "model", "inputs", "data-path", "out", "chunk-rows"]);
  const inputs = o.get("inputs");
  const dataPath = o.get("data-path");
  if ((inputs === undefined) === (dataPath === undefined))
    throw new UsageError("predict needs --inputs x.npy (local) or --data-path FILE (under the server's data root)");
  const chunkRows = Number(o.get("chunk-rows") ?? 0);
  if (!Number.isInteger(chunkRows) || chunkRows < 0)
    throw new UsageError("--chunk-rows must be a whole number of rows (0: the server's default)");
  const request: PredictStreamRequest = {
    modelId: o.require("model"),
    source:
      inputs !== undefined
        ? { $case: "rows", rows: tensorToWire("", readNpy(fs.readFileSync(inputs), "--inputs"), true) }
        : { $case: "dataPath", dataPath: dataPath as string },
    chunkRows,
    startOffset: 0,
    rawOutput: true,
  };
  const target = o.get("out");
  // Progress goes to stderr, so that JSON on stdout stays clean to pipe.
  const bar = new ProgressLine(process.stderr);
  const assembly = new OutputAssembly();
  const client = connect(o.get("server") ?? defaultServerAddress());
  try {
    for await (const chunk of client.predictStream(request)) {
      assembly.add(
        chunk.offset,
        chunk.outputs.map((t, i) => ({ name: t.name, tensor: fromServer(t, `outputs[${i}]`) })),
      );
      bar.update((100 * assembly.rows) / Math.max(1, chunk.totalRows), `${assembly.rows} of ${chunk.totalRows} rows`);
    }
  } finally {
    bar.done("");
    client.close();
  }
  const outputs = assembly.joined();
  if (target === undefined) {
    process.stdout.write(`${JSON.stringify({ outputs: outputs.map((x) => tensorToJson(x.name, x.tensor)) })}\n`);
  } else {
    const [only, ...more] = outputs;
    if (!only || more.length > 0)
      throw new UsageError(`--out takes one output; this model has ${outputs.length} (leave --out out for JSON)`);
    fs.writeFileSync(target, writeNpy(only.tensor));
    process.stdout.write(`predicted ${assembly.rows} rows into ${target}\n`);
  }
  return 0;
}
