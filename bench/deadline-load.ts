// The load for bench/deadline-overload.ts, from its own process: CALLERS closed-loop callers each
// send a Predict, wait for its answer or for DEADLINE_MS, and send the next. With `deadline` the
// gRPC deadline goes to the server with the call; with `cancel` the caller cancels the call when it
// gives up (the server learns of it then); with `abandon` it stops waiting without a word, and the
// call runs on (what a server that ignores cancels and deadlines sees). Callers take the models
// named (comma-separated) in turn. Prints JSON: answers in time, calls given up (in all and per
// model), and the answered calls' latencies.
import * as grpc from "@grpc/grpc-js";
import { connect } from "../src/cli/client.js";
import { floatTensor } from "../src/cli/tensors.js";
import type { PredictRequest } from "../src/gen/modelbay/v1/model_service.js";
import { startPredict } from "../test/helpers/predict-call.js";
import { runBench } from "./harness.js";

const [
  address = "",
  mode = "deadline",
  callersArg = "32",
  secondsArg = "5",
  deadlineArg = "50",
  rowsArg = "32",
  modelsArg = "model",
] = process.argv.slice(2);
const [CALLERS, SECONDS, DEADLINE_MS, ROWS] = [callersArg, secondsArg, deadlineArg, rowsArg].map(Number) as [
  number,
  number,
  number,
  number,
];

/** `code`: the gRPC status of a failed call ("abandoned" for one the caller walked away from). */
type Outcome = { ok: true; ms: number } | { ok: false; code: string };
/** One model's answers in time and calls given up. */
type Tally = { answered: number; givenUp: number };

async function main() {
  const client = connect(address);
  // Callers take the models in turn (a comma-separated list).
  const models = modelsArg.split(",");
  const inputs = [
    floatTensor(
      Float32Array.from({ length: ROWS * 10 }, (_, i) => Math.sin(i)),
      [ROWS, 10],
      true,
    ),
  ];
  const once = (modelId: string) =>
    new Promise<Outcome>((resolve) => {
      const request: PredictRequest = { modelId, inputs, rawOutput: true };
      const started = performance.now();
      const done = (err: grpc.ServiceError | null) =>
        resolve(
          err
            ? { ok: false, code: grpc.status[err.code] ?? String(err.code) }
            : { ok: true, ms: performance.now() - started },
        );
      if (mode === "deadline") {
        startPredict(client, request, { deadline: Date.now() + DEADLINE_MS }, done);
        return;
      }
      let settled = false;
      const call = startPredict(client, request, {}, (err) => {
        clearTimeout(timer);
        if (!settled) done(err);
        settled = true;
      });
      const timer = setTimeout(() => {
        if (mode === "cancel") return call.cancel();
        settled = true;
        resolve({ ok: false, code: "abandoned" });
      }, DEADLINE_MS);
    });
  // Warm up the channel and the models before timing (20 calls in all).
  for (let i = 0; i < 20; i++) await once(models[i % models.length] as string);
  const end = performance.now() + SECONDS * 1000;
  const latencies: number[] = [];
  let givenUp = 0;
  const failures: Record<string, number> = {};
  const byModel: Record<string, Tally> = {};
  for (const m of models) byModel[m] = { answered: 0, givenUp: 0 };
  await Promise.all(
    Array.from({ length: CALLERS }, async (_, caller) => {
      const modelId = models[caller % models.length] as string;
      const tally = byModel[modelId] as Tally;
      while (performance.now() < end) {
        const r = await once(modelId);
        if (r.ok) {
          latencies.push(r.ms);
          tally.answered++;
        } else {
          givenUp++;
          tally.givenUp++;
          failures[r.code] = (failures[r.code] ?? 0) + 1;
        }
      }
    }),
  );
  client.close();
  process.stdout.write(`${JSON.stringify({ answered: latencies.length, givenUp, failures, byModel, latencies })}\n`);
}

runBench(main);
