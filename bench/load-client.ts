// The load for bench/health-under-load.ts, from its own process as real clients would be: a
// training job repeated and 1M-row PredictStreams repeated (rows inline or from data_path) against
// the server at argv[2] until stdin closes; prints the rows streamed.
import { connect } from "../src/cli/client.js";
import { regressionData } from "../src/cli/example-data.js";
import { floatTensor, inlineXY } from "../src/cli/tensors.js";
import type { PredictStreamResponse } from "../src/gen/modelbay/v1/model_service.js";
import { runBench } from "./harness.js";

const [address = "", source = "inline", rowsArg = "1000000"] = process.argv.slice(2);
const STREAM_ROWS = Number(rowsArg);

async function main() {
  const client = connect(address);
  const stop = new AbortController();
  process.stdin.on("close", () => stop.abort());
  process.stdin.resume();
  const { x, y } = regressionData(65_536);
  const rows = Float32Array.from({ length: STREAM_ROWS * 10 }, (_, i) => Math.sin(i));
  const training = (async () => {
    while (!stop.signal.aborted) {
      for await (const _ of client.train({
        modelId: "train",
        data: inlineXY(floatTensor(x, [65_536, 10], true), floatTensor(y, [65_536, 1], true)),
        validationSplit: 0,
        epochs: 1,
        batchSize: 64,
        shuffle: true,
        seed: 1,
        progressIntervalMs: 0,
        detach: false,
      })) {
      }
    }
  })();
  let streamed = 0;
  const streaming = (async () => {
    while (!stop.signal.aborted) {
      const call = client.raw.predictStream({
        modelId: "stream",
        source:
          source === "inline"
            ? { $case: "rows", rows: floatTensor(rows, [STREAM_ROWS, 10], true) }
            : { $case: "dataPath", dataPath: "rows.npy" },
        chunkRows: 8192,
        startOffset: 0,
        rawOutput: true,
      });
      for await (const c of call as AsyncIterable<PredictStreamResponse>) streamed += c.outputs[0]?.shape[0] ?? 0;
    }
  })();
  await Promise.all([training, streaming]);
  client.close();
  process.stdout.write(`${streamed}\n`);
}

runBench(main);
