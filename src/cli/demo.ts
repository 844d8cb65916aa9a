// The README's first command: starts an in-process server on a free loopback port and walks the
// classic TensorFlow recipe through the API, printing what happens.
import { DataType, type Tensor } from "../gen/modelbay/v1/tensor.js";
import { silentLogger } from "../log.js";
import { startServer } from "../server.js";
import { connect } from "./client.js";
import { classicDenseSpec, customBlockSpec } from "./example-specs.js";

const say = (line: string) => process.stdout.write(`${line}\n`);

function rawFloats(values: Float32Array, shape: number[]): Tensor {
  return {
    name: "",
    dtype: DataType.DATA_TYPE_FLOAT32,
    shape,
    floatValues: [],
    int32Values: [],
    boolValues: [],
    float64Values: [],
    int64Values: [],
    rawContents: Buffer.from(values.buffer, values.byteOffset, values.byteLength),
  };
}

function floatsOf(t: Tensor | undefined): Float32Array {
  if (!t) throw new Error("no output");
  if (t.floatValues.length > 0) return Float32Array.from(t.floatValues);
  return new Float32Array(
    t.rawContents.buffer.slice(t.rawContents.byteOffset, t.rawContents.byteOffset + t.rawContents.byteLength),
  );
}

async function main(): Promise<void> {
  const server = await startServer({ address: "127.0.0.1:0", log: silentLogger });
  const client = connect(server.address);
  try {
    say(`modelbay demo: in-process server on ${server.address}`);
    say(`health: ${await client.health()}`);
    const info = await client.getServerInfo({});
    say(
      `backend: ${info.backend}${info.tensorflowVersion ? ` (TensorFlow ${info.tensorflowVersion})` : ""}, tfjs ${info.tfjsVersion}`,
    );

    const batch = Float32Array.from({ length: 100 }, (_, i) => Math.sin(i));
    for (const [id, spec, what] of [
      ["classic", classicDenseSpec(), "Dense(128, relu, input 10) -> Dense(1), adam/mse"],
      ["custom-block", customBlockSpec(), "custom block wrapping Dense(64, relu) -> Dense(1)"],
    ] as const) {
      const { model } = await client.createModel({ modelId: id, spec });
      say(`\ncreated "${id}": ${what}; ${model?.parameterCount} parameters on ${model?.placement?.device}`);
      const res = await client.predict({ modelId: id, inputs: [rawFloats(batch, [10, 10])], rawOutput: true });
      const out = res.outputs[0];
      const values = Array.from(floatsOf(out), (v) => v.toFixed(4));
      say(`predict 10x10 -> shape [${out?.shape.join(", ")}]: ${values.join(" ")}`);
    }
    say("\ndemo complete");
  } finally {
    client.close();
    await server.shutdown();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
