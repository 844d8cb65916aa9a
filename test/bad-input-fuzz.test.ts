// Bad input at random, against `modelbay serve` in its own process: random messages drawn from the
// contract, valid requests with fields changed, and valid encodings with bytes damaged, sent to
// every method of every service. Each answer must be OK or a status that names the caller's
// mistake, with a message; never UNKNOWN, INTERNAL (except grpc-js's own for bytes that are not a
// message), UNAVAILABLE or DATA_LOSS. The server must stay up and healthy, and a model the fuzz
// never names keeps its checkpoints, which must still restore and predict what they did.
// MODELBAY_FUZZ_SEED, MODELBAY_FUZZ_ROUNDS and MODELBAY_FUZZ_LANES (calls at once) replay or widen a run.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import type { DescMethod } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { connect, type ModelbayClient } from "../src/cli/client.js";
import { HealthCheckRequest, HealthService } from "../src/gen/health/v1/health.js";
import { GRPCInferenceServiceService, ModelInferRequest } from "../src/gen/inference/grpc_predict_v2.js";
import * as api from "../src/gen/modelbay/v1/model_service.js";
import { TrainRequest } from "../src/gen/modelbay/v1/training.js";
import {
  contractMethods,
  Dictionary,
  damagedBytes,
  mutatedMessage,
  Random,
  randomMessage,
} from "./helpers/fuzz-messages.js";
import { serveProcess } from "./helpers/serve-process.js";
import { tempDir } from "./helpers/server.js";
import { denseSpec, denseStackSpec } from "./helpers/specs.js";
import { firstMismatch, floatTensor, predictFloats, seededFloats } from "./helpers/tensors.js";
import { trainRequest } from "./helpers/training.js";

const seed = Number(process.env.MODELBAY_FUZZ_SEED ?? 20261126);
const rounds = Number(process.env.MODELBAY_FUZZ_ROUNDS ?? 2000);
const lanes = Number(process.env.MODELBAY_FUZZ_LANES ?? 3);
const Status = grpc.status;

/** Codes that say what was wrong with a request; UNAVAILABLE would mean a device worker died. */
const callerMistakes = new Set([
  Status.INVALID_ARGUMENT,
  Status.NOT_FOUND,
  Status.ALREADY_EXISTS,
  Status.FAILED_PRECONDITION,
  Status.RESOURCE_EXHAUSTED,
  Status.OUT_OF_RANGE,
  // Calls that collide (two restores into one model id at once).
  Status.ABORTED,
]);

interface Answer {
  code: number;
  details: string;
  messages: Buffer[];
}

/** One call with raw bytes; a server stream is read for at most a few messages or a second. */
function call(client: grpc.Client, method: DescMethod, body: Uint8Array): Promise<Answer> {
  const route = `/${method.parent.typeName}/${method.name}`;
  const same = (b: Buffer) => b;
  const deadline = Date.now() + 20_000;
  return new Promise((resolve) => {
    if (method.methodKind === "unary") {
      client.makeUnaryRequest(route, same, same, Buffer.from(body), new grpc.Metadata(), { deadline }, (err, res) =>
        resolve({ code: err?.code ?? Status.OK, details: err?.details ?? "", messages: res ? [res] : [] }),
      );
      return;
    }
    const stream = client.makeServerStreamRequest(route, same, same, Buffer.from(body), new grpc.Metadata(), {
      deadline,
    });
    const messages: Buffer[] = [];
    const stop = setTimeout(() => stream.cancel(), 1000);
    stream.on("data", (m: Buffer) => {
      messages.push(m);
      if (messages.length >= 4) stream.cancel();
    });
    stream.on("error", () => {});
    stream.on("status", (s: grpc.StatusObject) => {
      clearTimeout(stop);
      resolve({ code: s.code, details: s.details, messages });
    });
  });
}

interface Codec {
  requestDeserialize(b: Buffer): unknown;
  responseDeserialize(b: Buffer): unknown;
}

/** The generated codecs of each route: what the server makes of a request's bytes, and the answer's. */
const codecs = new Map<string, Codec>(
  [api.ModelServiceService, GRPCInferenceServiceService, HealthService].flatMap((service) =>
    Object.values(service).map((m): [string, Codec] => [m.path, m as unknown as Codec]),
  ),
);

function decodes(route: string, body: Uint8Array): boolean {
  try {
    codecs.get(route)?.requestDeserialize(Buffer.from(body));
    return true;
  } catch {
    return false;
  }
}

/** Valid requests per method, each aimed at the fuzz's own model "fz". */
function validRequests(inputName: string): Map<string, Uint8Array[]> {
  const rows = (n: number) => floatTensor(seededFloats(n * 10, 3), [n, 10], true);
  const enc = <T>(type: { encode(m: T): { finish(): Uint8Array }; fromPartial(o: object): T }, o: object) =>
    type.encode(type.fromPartial(o)).finish();
  const ref = { checkpoint: { modelId: "fz", checkpointId: "latest" } };
  return new Map<string, Uint8Array[]>([
    ["CreateModel", [enc(api.CreateModelRequest, { modelId: "fz2", spec: denseStackSpec([8]) })]],
    ["GetModel", [enc(api.GetModelRequest, { modelId: "fz" })]],
    ["DeleteModel", [enc(api.DeleteModelRequest, { modelId: "fz2" })]],
    ["Predict", [enc(api.PredictRequest, { modelId: "fz", inputs: [rows(2)] })]],
    [
      "PredictStream",
      [
        enc(api.PredictStreamRequest, { modelId: "fz", source: { $case: "rows", rows: rows(50) }, chunkRows: 8 }),
        enc(api.PredictStreamRequest, { modelId: "fz", source: { $case: "dataPath", dataPath: "rows.csv" } }),
      ],
    ],
    ["Train", [enc(TrainRequest, trainRequest("fz", 64, { epochs: 1 }))]],
    ["ListJobs", [enc(api.ListJobsRequest, { modelId: "fz" })]],
    ["Checkpoint", [enc(api.CheckpointRequest, { modelId: "fz" })]],
    ["ListCheckpoints", [enc(api.ListCheckpointsRequest, { modelId: "fz" })]],
    ["GetCheckpoint", [enc(api.GetCheckpointRequest, { modelId: "fz", checkpointId: "latest" })]],
    ["DeleteCheckpoint", [enc(api.DeleteCheckpointRequest, { modelId: "fz", checkpointId: "latest" })]],
    [
      "Restore",
      [
        enc(api.RestoreRequest, { source: { $case: "checkpoint", ...ref }, targetModelId: "fz2" }),
        enc(api.RestoreRequest, {
          source: { $case: "checkpoint", ...ref },
          goldens: { inputs: [rows(2)], expectedOutputs: [rows(2)], atol: 1e-3 },
        }),
      ],
    ],
    [
      "ModelInfer",
      [
        enc(ModelInferRequest, {
          modelName: "fz",
          inputs: [{ name: inputName, datatype: "FP32", shape: [2, 10] }],
          rawInputContents: [Buffer.from(rows(2).rawContents)],
        }),
      ],
    ],
    ["Check", [enc(HealthCheckRequest, { service: "" })]],
  ]);
}

/** A request for `method`: random, a valid one with fields changed, or a valid one's bytes damaged. */
function request(r: Random, method: DescMethod, valid: Uint8Array[], dict: Dictionary): Uint8Array {
  const roll = r.next();
  if (valid.length === 0 || roll < 0.3) return randomMessage(r, method.input, dict);
  const base = r.pick(valid);
  if (roll < 0.8) return mutatedMessage(r, method.input, base, dict);
  if (roll < 0.85) return base;
  return damagedBytes(r, base);
}

/** Deletes a model, waiting (up to 10 s) for a cancelled training job to let go of it. */
async function deleteOnceStopped(client: ModelbayClient, modelId: string): Promise<void> {
  for (let waited = 0; ; waited += 100) {
    try {
      await client.deleteModel({ modelId, deleteCheckpoints: false });
      return;
    } catch (err) {
      if ((err as grpc.ServiceError).code !== Status.FAILED_PRECONDITION || waited >= 10_000) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function keeperState(client: ModelbayClient) {
  const { checkpoints } = await client.listCheckpoints({ modelId: "keeper" });
  return checkpoints.map((c) => `${c.checkpointId}:${c.fingerprint}`);
}

test(`the server answers ${rounds} bad requests (seed ${seed}, ${lanes} at once) with caller-mistake statuses and loses nothing`, async () => {
  const dir = tempDir("modelbay-fuzz-");
  const dataDir = path.join(dir, "data");
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(
    path.join(dataDir, "rows.csv"),
    `${Array.from({ length: 10 }, (_, i) => `c${i}`)}\n${"1,".repeat(9)}1\n`,
  );
  // Small limits, so that requests for too much are refused quickly rather than computed.
  const served = await serveProcess(dir, [
    ...["--data-dir", dataDir, "--artifact-dir", path.join(dir, "artifacts"), "--max-sessions", "8"],
    ...["--max-session-bytes", String(64 << 20), "--max-tensor-bytes", String(1 << 20), "--max-batch-size", "1024"],
  ]);
  const client = connect(served.address);
  const raw = new grpc.Client(served.address, grpc.credentials.createInsecure());
  let exited: number | null | undefined;
  served.child.on("exit", (code) => (exited = code));
  try {
    // A model the fuzz never names, with two checkpoints and what it predicts.
    await client.createModel({ modelId: "keeper", spec: denseSpec(3) });
    await client.checkpoint({ modelId: "keeper" });
    for await (const _ of client.train(trainRequest("keeper", 64, { epochs: 1 }))) void _;
    await client.checkpoint({ modelId: "keeper" });
    const probe = [floatTensor(seededFloats(40, 9), [4, 10], true)];
    const golden = await predictFloats(client, "keeper", probe);
    const before = await keeperState(client);
    // The fuzz's own model, with a checkpoint for "latest" to find.
    await client.createModel({ modelId: "fz", spec: denseStackSpec([8]) });
    await client.checkpoint({ modelId: "fz" });
    const inputName = (await client.getModel({ modelId: "fz" })).model?.inputs[0]?.name ?? "";

    const forbidden = (s: string) => s === "keeper" || before.some((c) => c.startsWith(`${s}:`));
    const dict = new Dictionary(forbidden);
    const valid = validRequests(inputName);
    const methods = contractMethods();
    const counts = new Map<number, number>();
    // Lanes call at once, so that bad input also meets other calls in flight (a delete during a
    // restore, a Train on a model being replaced). One lane replays a seed call for call.
    const lane = async (index: number, share: number) => {
      const r = new Random(seed + index * 7919);
      for (let round = 0; round < share; round++) {
        const method = r.pick(methods);
        const body = request(r, method, valid.get(method.name) ?? [], dict);
        const route = `/${method.parent.typeName}/${method.name}`;
        const answer = await call(raw, method, body);
        const what = `lane ${index} round ${round} ${route} ${Buffer.from(body).toString("base64")}`;
        assert.equal(exited, undefined, `the server exited (${exited}) after ${what}\n${served.notableLog()}`);
        counts.set(answer.code, (counts.get(answer.code) ?? 0) + 1);
        if (round % 50 === 49) assert.equal(await client.health(), "SERVING");
        if (answer.code === Status.OK) {
          for (const m of answer.messages) dict.learn(codecs.get(route)?.responseDeserialize(m));
          continue;
        }
        const cancelledByUs = answer.code === Status.CANCELLED && method.methodKind === "server_streaming";
        const notAMessage =
          answer.code === Status.INTERNAL && !decodes(route, body) && /deserializ/i.test(answer.details);
        assert.ok(
          callerMistakes.has(answer.code) || cancelledByUs || notAMessage,
          `${Status[answer.code]} "${answer.details}" for ${what}\n${served.notableLog()}`,
        );
        assert.ok(answer.details.length > 0, `${Status[answer.code]} without a message for ${what}`);
      }
    };
    await Promise.all(Array.from({ length: lanes }, (_, i) => lane(i, Math.ceil(rounds / lanes))));
    console.log(`statuses over ${rounds} calls:`, Object.fromEntries([...counts].map(([c, n]) => [Status[c], n])));

    // Jobs the fuzz started may still run, and its models may fill the server (the keeper, saved
    // and idle, may have been evicted for them): stop and delete them before checking the keeper.
    for (const job of (await client.listJobs({ modelId: "" })).jobs) {
      await client.cancelJob({ jobId: job.jobId }).catch(() => {});
    }
    for (const { modelId } of (await client.listModels({})).models) {
      if (modelId !== "keeper") await deleteOnceStopped(client, modelId);
    }
    assert.equal(await client.health(), "SERVING");
    assert.deepEqual(await keeperState(client), before, "the keeper's checkpoints are all still listed, unchanged");
    assert.equal(firstMismatch(await predictFloats(client, "keeper", probe), golden, 0, 0), undefined);
    for (const id of [...before.map((c) => c.split(":")[0] as string), "latest"]) {
      const res = await client.restore({
        source: { $case: "checkpoint", checkpoint: { modelId: "keeper", checkpointId: id } },
        targetModelId: "",
        resume: false,
      });
      assert.deepEqual(res.warnings, [], `checkpoint ${id} restores without warnings`);
    }
    // "latest" came last: the keeper's session is its newest checkpoint again.
    assert.equal(firstMismatch(await predictFloats(client, "keeper", probe), golden, 0, 0), undefined);
  } finally {
    client.close();
    raw.close();
    served.child.kill("SIGKILL");
  }
});
