// Damaged model files at random, restored by `modelbay serve` in its own process. Each round copies
// one artifact (the SavedModels, .keras file and TensorFlow checkpoints Python TensorFlow saved in
// fixtures/, Keras 3 models of other layers and their weights files made by Python at the start, a
// modelbay checkpoint directory, a TensorFlow.js layers model), damages one of its
// files (bytes flipped, cut, overwritten or inserted; a JSON value changed; inside a .keras file,
// one of its members), and restores it. A restore either works (and the model then predicts) or
// fails with a status naming the problem; never UNKNOWN, INTERNAL or a dead server.
// MODELBAY_FUZZ_SEED and MODELBAY_ARTIFACT_FUZZ_ROUNDS replay or widen a run.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { strFromU8, strToU8, unzipSync, zipSync } from "fflate";
import { tensorToWire } from "../src/api/tensor-codec.js";
import { fingerprintOf, MANIFEST_FILE, type Manifest, sha256 } from "../src/checkpoints/manifest.js";
import { connect } from "../src/cli/client.js";
import type { ModelSpec } from "../src/gen/modelbay/v1/model.js";
import { DataType } from "../src/gen/modelbay/v1/tensor.js";
import { run } from "./helpers/cli.js";
import { damagedBytes, Random } from "./helpers/fuzz-messages.js";
import { serveProcess } from "./helpers/serve-process.js";
import { tempDir } from "./helpers/server.js";
import { denseSpec } from "./helpers/specs.js";
import { floatTensor, seededFloats } from "./helpers/tensors.js";

const seed = Number(process.env.MODELBAY_FUZZ_SEED ?? 20261126);
const rounds = Number(process.env.MODELBAY_ARTIFACT_FUZZ_ROUNDS ?? 150);
const FIXTURES = path.resolve(import.meta.dirname, "../fixtures/python/tf2.18");
const { status } = grpc;

/** A corrupt or unusable file is the caller's to fix: these codes say so. */
const namesTheProblem = new Set([
  status.INVALID_ARGUMENT,
  status.NOT_FOUND,
  status.FAILED_PRECONDITION,
  status.RESOURCE_EXHAUSTED,
  status.DATA_LOSS,
]);

/** A JSON document with one value somewhere changed, removed or replaced by another type. */
function damagedJson(r: Random, text: string): string {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return text;
  }
  const holders: [Record<string, unknown> | unknown[], string | number][] = [];
  const walk = (v: unknown) => {
    const entries: [string | number, unknown][] = Array.isArray(v)
      ? v.map((x, i) => [i, x])
      : v && typeof v === "object"
        ? Object.entries(v)
        : [];
    for (const [key, x] of entries) {
      holders.push([v as never, key]);
      walk(x);
    }
  };
  walk(doc);
  if (holders.length === 0) return text;
  const times = 1 + r.int(2);
  for (let i = 0; i < times; i++) {
    const [holder, key] = r.pick(holders);
    const replacement = r.pick([-1, 0, 2 ** 31, 1e300, 2.5, "", "x", null, true, [], {}, [2 ** 40], "Dense"]);
    if (r.chance(0.2) && !Array.isArray(holder)) delete holder[key as string];
    else (holder as Record<string | number, unknown>)[key] = replacement;
  }
  return JSON.stringify(doc);
}

/** Damages `file` in place: JSON by value, a .keras archive by one of its members, else by bytes. */
function damage(r: Random, file: string): string {
  const bytes = new Uint8Array(fs.readFileSync(file));
  if (file.endsWith(".keras") && r.chance(0.8)) {
    const members = unzipSync(bytes);
    const name = r.pick(Object.keys(members));
    const member = members[name] as Uint8Array;
    members[name] = name.endsWith(".json") ? strToU8(damagedJson(r, strFromU8(member))) : damagedBytes(r, member);
    fs.writeFileSync(file, zipSync(members));
    return `${path.basename(file)}:${name}`;
  }
  if (file.endsWith(".json") && r.chance(0.7)) {
    fs.writeFileSync(file, damagedJson(r, strFromU8(bytes)));
    return `${path.basename(file)} (a JSON value)`;
  }
  fs.writeFileSync(file, damagedBytes(r, bytes));
  return `${path.basename(file)} (bytes)`;
}

/**
 * Rewrites a modelbay checkpoint's manifest to match its (damaged) files: a crafted checkpoint
 * whose hashes all check out, so that what reads its contents meets the damage.
 */
function rehash(dir: string): void {
  const manifestFile = path.join(dir, MANIFEST_FILE);
  const manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8")) as Manifest;
  const files = manifest.files.map((f) => {
    const data = fs.readFileSync(path.join(dir, f.path));
    return { path: f.path, size: data.byteLength, sha256: sha256(data) };
  });
  fs.writeFileSync(manifestFile, JSON.stringify({ ...manifest, files, fingerprint: fingerprintOf(files) }));
}

const filesUnder = (dir: string): string[] =>
  fs.statSync(dir).isDirectory() ? fs.readdirSync(dir).flatMap((name) => filesUnder(path.join(dir, name))) : [dir];

/**
 * Keras 3 models beyond Dense stacks (test/parity/keras3_models.py), where Python TensorFlow is at
 * hand (always under CI): their .keras files, whole models saved as .h5 by tf-keras and Keras 3, and
 * weights files and a tf-keras TensorFlow checkpoint with the to_json() spec they fit.
 */
async function keras3Artifacts(pristine: string): Promise<{ name: string; spec?: ModelSpec }[]> {
  const python = process.env.MODELBAY_PARITY_PYTHON;
  if (!python || python === "skip") {
    assert.ok(process.env.CI !== "true", "under CI MODELBAY_PARITY_PYTHON must point at a Python with TensorFlow");
    return [];
  }
  for (const script of ["keras3_models.py", "multi_io_models.py"]) {
    const made = await run(python, [path.join(import.meta.dirname, "parity", script), pristine]);
    assert.equal(made.status, 0, made.stderr);
  }
  const kerasSpec = (name: string): ModelSpec => ({
    ...denseSpec(),
    topology: { $case: "kerasJson", kerasJson: fs.readFileSync(path.join(pristine, `${name}.json`), "utf8") },
  });
  return [
    { name: "conv.keras" },
    { name: "recurrent.keras" },
    { name: "nested.keras" },
    { name: "gated.keras" },
    { name: "attention.keras" },
    { name: "masked_text.keras" },
    { name: "operations.keras" },
    { name: "h5_tfkeras_mixed.h5" },
    { name: "h5_tfkeras_attention.h5" },
    { name: "h5_keras3_mixed.h5" },
    { name: "h5_tfkeras_mixed_ckpt", spec: kerasSpec("h5_tfkeras_mixed") },
    { name: "text.weights.h5", spec: kerasSpec("text") },
    { name: "residual.weights.h5", spec: kerasSpec("residual") },
    { name: "classic_weights", spec: denseSpec() },
    // Several inputs and outputs, in lists and in dicts.
    { name: "two_tower.keras" },
    { name: "dict_io.keras" },
    { name: "dict_io.h5" },
    { name: "tfkeras_two_tower.h5" },
    { name: "two_tower_savedmodel" },
  ];
}

test(`damaged model files restore or fail with a clear status (${rounds} rounds, seed ${seed})`, async () => {
  const dir = tempDir("modelbay-artifact-fuzz-");
  const pristine = path.join(dir, "pristine");
  const artifacts = path.join(dir, "artifacts");
  fs.cpSync(FIXTURES, pristine, { recursive: true });
  fs.mkdirSync(artifacts);
  const served = await serveProcess(dir, ["--artifact-dir", artifacts, "--max-tensor-bytes", String(1 << 20)]);
  const client = connect(served.address);
  let exited: number | null | undefined;
  served.child.on("exit", (code) => (exited = code));
  try {
    // modelbay's own checkpoint directory, and its model.json + weights.bin alone (a TensorFlow.js
    // layers model), next to what Python saved.
    await client.createModel({ modelId: "source", spec: denseSpec(4) });
    const saved = (await client.checkpoint({ modelId: "source" })).checkpoint?.checkpointId ?? "";
    fs.cpSync(path.join(dir, "ck", "source", saved), path.join(pristine, "modelbay_ckpt"), { recursive: true });
    fs.mkdirSync(path.join(pristine, "tfjs_layers"));
    for (const f of ["model.json", "weights.bin"]) {
      fs.copyFileSync(path.join(pristine, "modelbay_ckpt", f), path.join(pristine, "tfjs_layers", f));
    }
    const candidates: { name: string; spec?: ModelSpec; rehash?: boolean }[] = [
      { name: "classic_savedmodel" },
      { name: "custom_savedmodel" },
      { name: "classic.keras" },
      { name: "classic_ckpt", spec: denseSpec() },
      { name: "modelbay_ckpt" },
      { name: "modelbay_ckpt", rehash: true },
      { name: "tfjs_layers" },
      ...(await keras3Artifacts(pristine)),
    ];
    const r = new Random(seed);
    const counts = new Map<string, number>();
    for (let round = 0; round < rounds; round++) {
      const artifact = r.pick(candidates);
      const copy = path.join(artifacts, `r${round}-${artifact.name}`);
      fs.cpSync(path.join(pristine, artifact.name), copy, { recursive: true });
      const files = filesUnder(copy).filter((f) => !artifact.rehash || path.basename(f) !== MANIFEST_FILE);
      let what = `round ${round}: ${artifact.name}, damaged ${damage(r, r.pick(files))}`;
      if (artifact.rehash) {
        rehash(copy);
        what += ", manifest rehashed";
      }
      const outcome = await client
        .restore({
          source: { $case: "artifactPath", artifactPath: path.basename(copy) },
          targetModelId: "victim",
          resume: false,
          ...(artifact.spec ? { spec: artifact.spec } : {}),
        })
        .then(
          () => status.OK,
          (err: grpc.ServiceError) => {
            const ok = namesTheProblem.has(err.code) && err.details.length > 0;
            assert.ok(ok, `${status[err.code]} "${err.details}" for ${what}\n${served.notableLog()}`);
            return err.code;
          },
        );
      assert.equal(exited, undefined, `the server exited (${exited}) after ${what}\n${served.notableLog()}`);
      const key = `${artifact.name}${artifact.rehash ? " (rehashed)" : ""} ${status[outcome]}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if (outcome === status.OK) {
        // What restored must serve: a Predict of two rows of each declared input answers cleanly.
        const declared = (await client.getModel({ modelId: "victim" })).model?.inputs ?? [];
        const inputs = declared.map((input) => {
          const shape = input.shape.map((d) => (d < 0 ? 2 : d));
          const values = seededFloats(
            shape.reduce((a, b) => a * b, 1),
            round,
          );
          // Token ids: small whole numbers any embedding has rows for.
          if (input.dtype === DataType.DATA_TYPE_INT32) {
            return tensorToWire(
              input.name,
              {
                dtype: "int32",
                shape,
                data: Int32Array.from(values, (v) => Math.abs(v) % 2),
              },
              false,
            );
          }
          return floatTensor(values, shape, false, input.name);
        });
        const count = inputs.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
        if (count <= 1 << 16) {
          await client.predict({ modelId: "victim", inputs, rawOutput: true }).catch((err: grpc.ServiceError) => {
            assert.ok(namesTheProblem.has(err.code), `Predict: ${status[err.code]} "${err.details}" after ${what}`);
          });
        }
      }
      fs.rmSync(copy, { recursive: true, force: true });
    }
    console.log("outcomes:", Object.fromEntries([...counts].sort()));
    assert.equal(await client.health(), "SERVING");
  } finally {
    client.close();
    served.child.kill("SIGKILL");
  }
});
