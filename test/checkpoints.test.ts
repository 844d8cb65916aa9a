// Checkpoints you can trust: full-state round trips, goldens, corruption detected and skipped,
// the latest protected, ids that cannot escape the store, leftovers cleaned, and a full disk that
// costs nothing already stored.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { Code, ModelbayError } from "../src/errors.js";
import type { ModelSpec } from "../src/gen/modelbay/v1/model.js";
import type { Tensor } from "../src/gen/modelbay/v1/tensor.js";
import { startTestServer, type TestServer, tempDir } from "./helpers/server.js";
import { canMount, mountTmpfs, unmount } from "./helpers/small-disks.js";
import { denseSpec, denseStackSpec } from "./helpers/specs.js";
import { floatTensor, seededFloats } from "./helpers/tensors.js";
import { checkpointPolicy, collect, ofKind, trainRequest } from "./helpers/training.js";

let t: TestServer;
let storeDir: string;
before(async () => {
  storeDir = tempDir();
  t = await startTestServer({ checkpointDir: storeDir });
  await t.client.createModel({ modelId: "ck", spec: denseSpec(12) });
  await collect(t.client, trainRequest("ck", 300, { epochs: 1 }));
});
after(async () => {
  await t.close();
  fs.rmSync(storeDir, { recursive: true, force: true });
});

const probe = floatTensor(seededFloats(20 * 10, 31), [20, 10], true);
const predict = async (modelId: string) =>
  (await t.client.predict({ modelId, inputs: [probe], rawOutput: false })).outputs[0] as Tensor;
const fromCheckpoint = (modelId: string, checkpointId: string) => ({
  $case: "checkpoint" as const,
  checkpoint: { modelId, checkpointId },
});

test("Checkpoint returns an id and a manifest summary; GetCheckpoint lists every file's hash", async () => {
  const { checkpoint } = await t.client.checkpoint({ modelId: "ck" });
  assert.match(checkpoint?.checkpointId ?? "", /^ckpt-\d{6}$/);
  assert.equal(checkpoint?.latest, true);
  assert.equal(checkpoint?.epoch, 1);
  assert.match(checkpoint?.fingerprint ?? "", /^[0-9a-f]{64}$/);
  assert.match(checkpoint?.backend ?? "", /tfjs 4\.22\.0/);
  const got = await t.client.getCheckpoint({ modelId: "ck", checkpointId: checkpoint?.checkpointId ?? "" });
  assert.deepEqual(got.files.map((f) => f.path).sort(), [
    "model.json",
    "optimizer.bin",
    "optimizer.json",
    "state.json",
    "weights.bin",
  ]);
  assert.equal(
    got.checkpoint?.sizeBytes,
    got.files.reduce((n, f) => n + f.sizeBytes, 0),
  );
  assert.equal(got.checkpoint?.fingerprint, checkpoint?.fingerprint);
});

test("Restore by id predicts exactly what the model predicted, and goldens pass", async () => {
  const before = await predict("ck");
  const { checkpoint } = await t.client.checkpoint({ modelId: "ck" });
  const res = await t.client.restore({
    source: fromCheckpoint("ck", checkpoint?.checkpointId ?? ""),
    targetModelId: "ck-copy",
    goldens: { inputs: [probe], expectedOutputs: [{ ...before, name: "" }], atol: 0, rtol: 0 },
    resume: false,
  });
  assert.equal(res.checkpointId, checkpoint?.checkpointId);
  assert.deepEqual(res.model?.inputs, (await t.client.getModel({ modelId: "ck" })).model?.inputs);
  assert.equal(res.verification?.passed, true);
  assert.equal(res.verification?.outputs[0]?.maxAbsError, 0);
  assert.deepEqual((await predict("ck-copy")).floatValues, before.floatValues);
});

test("goldens that do not match fail the report with the errors measured", async () => {
  const before = await predict("ck");
  const wrong = { ...before, floatValues: before.floatValues.map((v, i) => (i === 3 ? v + 0.5 : v)) };
  const res = await t.client.restore({
    source: fromCheckpoint("ck", "latest"),
    targetModelId: "ck-check",
    goldens: { inputs: [probe], expectedOutputs: [wrong], atol: 1e-3, rtol: 1e-3 },
    resume: false,
  });
  const check = res.verification?.outputs[0];
  assert.equal(res.verification?.passed, false);
  assert.equal(check?.mismatches, 1);
  assert.ok(Math.abs((check?.maxAbsError ?? 0) - 0.5) < 1e-5, `max abs error ${check?.maxAbsError}`);
});

/**
 * A checkpoint of a new model, then training and a second checkpoint whose weights.bin has one bit
 * flipped (at `flipAt` of its length).
 */
async function goodThenFlipped(modelId: string, spec: ModelSpec, rows: number, flipAt: (length: number) => number) {
  await t.client.createModel({ modelId, spec });
  const good = (await t.client.checkpoint({ modelId })).checkpoint?.checkpointId ?? "";
  const goodPredictions = (await predict(modelId)).floatValues;
  await collect(t.client, trainRequest(modelId, rows, { epochs: 1 }));
  const bad = (await t.client.checkpoint({ modelId })).checkpoint?.checkpointId ?? "";
  const weights = path.join(storeDir, modelId, bad, "weights.bin");
  const bytes = fs.readFileSync(weights);
  const at = flipAt(bytes.length);
  bytes[at] = (bytes[at] ?? 0) ^ 0x01;
  fs.writeFileSync(weights, bytes);
  return { good, bad, goodPredictions, weightsBytes: bytes.length };
}

const rejectsAsCorruptWeights = (call: Promise<unknown>) =>
  assert.rejects(call, (err: grpc.ServiceError) => {
    assert.equal(err.code, grpc.status.DATA_LOSS);
    assert.match(err.details, /weights\.bin does not match its sha256/);
    return true;
  });

/** Restoring latest skips `bad`, says so, and predicts what the model predicted at `good`. */
async function latestFallsBack(modelId: string, flipped: Awaited<ReturnType<typeof goodThenFlipped>>) {
  const res = await t.client.restore({ source: fromCheckpoint(modelId, "latest"), targetModelId: "", resume: false });
  assert.equal(res.checkpointId, flipped.good);
  assert.match(res.warnings.join("\n"), new RegExp(`checkpoint ${flipped.bad} is corrupt`));
  assert.deepEqual((await predict(modelId)).floatValues, flipped.goodPredictions);
}

test("a bit-flipped latest checkpoint is detected; latest falls back to the newest good one and says so", async () => {
  const flipped = await goodThenFlipped("flip", denseSpec(3), 200, () => 100);
  await rejectsAsCorruptWeights(t.client.getCheckpoint({ modelId: "flip", checkpointId: flipped.bad }));
  await latestFallsBack("flip", flipped);
});

test("a large file found corrupt while the model is built from it: the model is dropped, never shown; latest falls back", async () => {
  // weights.bin of ~1.5 MB is a large file: hashed in the background while the device builds the
  // model from its bytes.
  const flipped = await goodThenFlipped("bigflip", denseStackSpec([600, 600], 5), 64, (n) => n - 100);
  assert.ok(flipped.weightsBytes >= 2 ** 20, `weights.bin is ${flipped.weightsBytes} bytes`);
  const tensorsBefore = (await t.server.sessions.engine.memory()).numTensors;
  await rejectsAsCorruptWeights(
    t.client.restore({ source: fromCheckpoint("bigflip", flipped.bad), targetModelId: "bigflip-bad", resume: false }),
  );
  const ids = (await t.client.listModels({})).models.map((m) => m.modelId);
  assert.ok(!ids.includes("bigflip-bad"), "the model built from the corrupt file is not a session");
  assert.equal((await t.server.sessions.engine.memory()).numTensors, tensorsBefore, "and its tensors are freed");
  await latestFallsBack("bigflip", flipped);
});

test("a truncated file is detected", async () => {
  await t.client.createModel({ modelId: "trunc", spec: denseSpec(3) });
  const id = (await t.client.checkpoint({ modelId: "trunc" })).checkpoint?.checkpointId ?? "";
  const file = path.join(storeDir, "trunc", id, "optimizer.bin");
  fs.truncateSync(file, Math.max(0, fs.statSync(file).size - 4));
  await assert.rejects(t.client.restore({ source: fromCheckpoint("trunc", id), targetModelId: "", resume: false }), {
    code: grpc.status.DATA_LOSS,
  });
  await assert.rejects(
    t.client.restore({ source: fromCheckpoint("trunc", "latest"), targetModelId: "", resume: false }),
    (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.DATA_LOSS);
      assert.match(err.details, /no intact checkpoint/);
      return true;
    },
  );
});

test("the latest checkpoint is deleted only with force, and then latest moves back", async () => {
  await t.client.createModel({ modelId: "del", spec: denseSpec(3) });
  const first = (await t.client.checkpoint({ modelId: "del" })).checkpoint?.checkpointId ?? "";
  const second = (await t.client.checkpoint({ modelId: "del" })).checkpoint?.checkpointId ?? "";
  await assert.rejects(t.client.deleteCheckpoint({ modelId: "del", checkpointId: second, force: false }), {
    code: grpc.status.FAILED_PRECONDITION,
  });
  await t.client.deleteCheckpoint({ modelId: "del", checkpointId: second, force: true });
  const { checkpoints } = await t.client.listCheckpoints({ modelId: "del" });
  assert.deepEqual(
    checkpoints.map((c) => [c.checkpointId, c.latest]),
    [[first, true]],
  );
  await assert.rejects(t.client.deleteCheckpoint({ modelId: "del", checkpointId: second, force: true }), {
    code: grpc.status.NOT_FOUND,
  });
});

test("checkpoints deleted while they are being listed, read or restored answer as gone, never INTERNAL", async () => {
  // Found by the bad-input fuzz: ListCheckpoints read a checkpoint's state.json after a concurrent
  // DeleteCheckpoint had removed it, and Restore of "latest" opened the files of one being deleted;
  // both answered INTERNAL.
  await t.client.createModel({ modelId: "churn", spec: denseSpec(3) });
  const keep = (await t.client.checkpoint({ modelId: "churn" })).checkpoint?.checkpointId ?? "";
  const unexpected: string[] = [];
  const record = (err: grpc.ServiceError) => {
    if (err.code !== grpc.status.NOT_FOUND) unexpected.push(`${grpc.status[err.code]} ${err.details}`);
  };
  const churn = async () => {
    for (let i = 0; i < 60; i++) {
      const id = (await t.client.checkpoint({ modelId: "churn" })).checkpoint?.checkpointId ?? "";
      // Forced, as it is the latest; refused while a reader has it open, so tried until it goes.
      for (;;) {
        const refused = await t.client
          .deleteCheckpoint({ modelId: "churn", checkpointId: id, force: true })
          .then(() => false)
          .catch((err: grpc.ServiceError) => err.code === grpc.status.FAILED_PRECONDITION || Promise.reject(err));
        if (!refused) break;
      }
    }
  };
  const readers = async (reader: number) => {
    for (let i = 0; i < 300; i++) {
      const { checkpoints } = await t.client.listCheckpoints({ modelId: "churn" }).catch((err) => {
        record(err);
        return { checkpoints: [] };
      });
      for (const c of checkpoints.filter((c) => c.checkpointId !== keep)) {
        await t.client.getCheckpoint({ modelId: "churn", checkpointId: c.checkpointId }).catch(record);
        if (i % 10 !== 0) continue;
        // By id, the one listed (NOT_FOUND if deleted meanwhile); "latest", which always exists.
        for (const checkpointId of [c.checkpointId, "latest"]) {
          await t.client
            .restore({
              source: { $case: "checkpoint", checkpoint: { modelId: "churn", checkpointId } },
              targetModelId: `churn-copy${reader}`,
              resume: false,
            })
            .catch(record);
        }
      }
    }
  };
  await Promise.all([churn(), readers(0), readers(1)]);
  assert.deepEqual(unexpected, []);
  const { checkpoints } = await t.client.listCheckpoints({ modelId: "churn" });
  assert.deepEqual(
    checkpoints.map((c) => c.checkpointId),
    [keep],
  );
});

test("a read of latest that meets a forced delete of it reads the one before, or finds it gone", async () => {
  const store = t.server.sessions.store;
  await t.client.createModel({ modelId: "race", spec: denseSpec(3) });
  const first = (await t.client.checkpoint({ modelId: "race" })).checkpoint?.checkpointId ?? "";
  const outcomes = new Set<string>();
  const turns = async (n: number) => {
    for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
  };
  for (let round = 0; round < 40; round++) {
    const doomed = (await t.client.checkpoint({ modelId: "race" })).checkpoint?.checkpointId ?? "";
    const [deleted, read] = await Promise.allSettled([
      store.delete("race", doomed, true),
      // A few event-loop turns later each round, so that some reads start while the delete is
      // under way and some after it.
      turns(round % 10).then(() => store.read("race", "latest")),
    ]);
    if (read.status === "fulfilled") {
      assert.deepEqual(read.value.warnings, [], "nothing was corrupt");
      outcomes.add(read.value.id === first ? "read the one before" : "read it before the delete");
    } else {
      assert.equal(deleted.status, "fulfilled");
      assert.ok(read.reason instanceof ModelbayError, String(read.reason));
      assert.equal(read.reason.code, Code.NOT_FOUND, read.reason.message);
      outcomes.add("gone");
    }
    if (deleted.status === "rejected") {
      // Refused because the read had it open: then it is still there, and goes now.
      assert.equal((deleted.reason as ModelbayError).code, Code.FAILED_PRECONDITION);
      await store.delete("race", doomed, true);
    }
  }
  console.log("outcomes:", [...outcomes]);
});

test("ids cannot escape the store", async () => {
  for (const checkpointId of ["../ck", "ckpt-000001/../../x", "/etc/passwd"]) {
    await assert.rejects(t.client.getCheckpoint({ modelId: "ck", checkpointId }), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, checkpointId);
      assert.match(err.details, /^checkpoint_id: /);
      return true;
    });
  }
  await assert.rejects(t.client.listCheckpoints({ modelId: "../ck" }), { code: grpc.status.INVALID_ARGUMENT });
  await assert.rejects(t.client.restore({ source: fromCheckpoint("..", "latest"), targetModelId: "", resume: false }), {
    code: grpc.status.INVALID_ARGUMENT,
  });
});

test("a restart cleans leftover temporaries and restores latest from disk", async () => {
  const dir = tempDir();
  const first = await startTestServer({ checkpointDir: dir });
  await first.client.createModel({ modelId: "keep", spec: denseSpec(5) });
  const saved = (await first.client.checkpoint({ modelId: "keep" })).checkpoint?.checkpointId;
  const expected = (await first.client.predict({ modelId: "keep", inputs: [probe], rawOutput: false })).outputs[0]
    ?.floatValues;
  await first.close();
  const leftover = path.join(dir, "keep", ".tmp-ckpt-000009-dead");
  fs.mkdirSync(leftover);
  fs.writeFileSync(path.join(leftover, "weights.bin"), "half");

  const second = await startTestServer({ checkpointDir: dir });
  try {
    assert.equal(fs.existsSync(leftover), false);
    const res = await second.client.restore({
      source: fromCheckpoint("keep", "latest"),
      targetModelId: "",
      resume: false,
    });
    assert.equal(res.checkpointId, saved);
    const got = (await second.client.predict({ modelId: "keep", inputs: [probe], rawOutput: false })).outputs[0]
      ?.floatValues;
    assert.deepEqual(got, expected);
  } finally {
    await second.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a full disk answers RESOURCE_EXHAUSTED and leaves earlier checkpoints and latest intact", {
  skip: !canMount && "needs root to mount a small tmpfs",
}, async () => {
  const dir = tempDir();
  assert.ok(mountTmpfs(dir, "96k"), "mount tmpfs");
  const small = await startTestServer({ checkpointDir: dir });
  try {
    await small.client.createModel({ modelId: "tiny", spec: denseSpec(1) });
    const kept = (await small.client.checkpoint({ modelId: "tiny" })).checkpoint?.checkpointId;
    await small.client.createModel({ modelId: "huge", spec: denseStackSpec([512, 128], 1) });
    await assert.rejects(small.client.checkpoint({ modelId: "huge" }), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED, err.details);
      assert.match(err.details, /no space left/);
      return true;
    });
    // Filling the disk again for the small model fails the same way and keeps its latest.
    const attempts = await Promise.allSettled([1, 2, 3, 4, 5].map(() => small.client.checkpoint({ modelId: "tiny" })));
    assert.ok(
      attempts.some((a) => a.status === "rejected"),
      "the disk never filled up",
    );
    const res = await small.client.restore({
      source: fromCheckpoint("tiny", "latest"),
      targetModelId: "tiny-back",
      resume: false,
    });
    assert.equal(res.warnings.length, 0);
    assert.ok(res.checkpointId >= (kept ?? ""));
    assert.deepEqual(
      fs.readdirSync(path.join(dir, "tiny")).filter((e) => e.startsWith(".tmp-")),
      [],
      "no temporaries left behind",
    );
  } finally {
    await small.close();
    unmount(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a checkpoint that cannot be written during training is a checkpoint_failed event; training goes on", {
  skip: !canMount && "needs root to mount a small tmpfs",
}, async () => {
  const dir = tempDir();
  assert.ok(mountTmpfs(dir, "48k"), "mount tmpfs");
  const small = await startTestServer({ checkpointDir: dir });
  try {
    await small.client.createModel({ modelId: "fills", spec: denseSpec(2) });
    const events = await collect(
      small.client,
      trainRequest("fills", 320, {
        epochs: 6,
        checkpointPolicy: checkpointPolicy({ everyEpochs: 1 }),
      }),
    );
    const saved = ofKind(events, "checkpointSaved").map((e) => e.checkpointSaved.checkpointId);
    const failed = ofKind(events, "checkpointFailed").map((e) => e.checkpointFailed);
    assert.ok(saved.length >= 1, "the first checkpoints fit");
    assert.ok(failed.length >= 1, "the disk never filled up");
    for (const f of failed) {
      assert.equal(f.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.equal(f.reason, "epoch");
      assert.match(f.message, /no space left/);
    }
    // Every write was reported before the job completed, and the job did complete.
    assert.equal(events.at(-1)?.event?.$case, "completed");
    assert.equal(saved.length + failed.length, 6);
    const res = await small.client.restore({
      source: fromCheckpoint("fills", "latest"),
      targetModelId: "back",
      resume: false,
    });
    assert.equal(res.checkpointId, saved.at(-1));
    assert.deepEqual(res.warnings, []);
  } finally {
    await small.close();
    unmount(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
