// Models saved outside modelbay, found under the server's artifact root: what kind each path is,
// and what it takes to open it as a session.
import fs from "node:fs/promises";
import path from "node:path";
import { MANIFEST_FILE } from "../checkpoints/manifest.js";
import type { ModelSpec } from "../compute/model-spec.js";
import { resolveUnder } from "../datasets/data-root.js";
import { Code, invalidArgument, ModelbayError } from "../errors.js";
import type { ImportedTrainable } from "./keras-file.js";
import { readKerasArtifact } from "./keras-read.js";
import { readTfCheckpoint } from "./tf-checkpoint.js";
import { readCheckpointDirectory, readTfjsLayers } from "./tfjs-layers.js";

export type ArtifactFormat =
  | "saved_model"
  | "keras"
  | "keras_h5"
  | "keras_weights"
  | "tf_checkpoint"
  | "tfjs_layers"
  | "modelbay_checkpoint";

export type Artifact =
  | { format: "saved_model"; dir: string }
  | { format: "keras"; file: string }
  | { format: "keras_h5"; file: string }
  | { format: "keras_weights"; file: string }
  | { format: "tf_checkpoint"; prefix: string }
  | { format: "tfjs_layers"; root: string; file: string }
  | { format: "modelbay_checkpoint"; dir: string };

const FIELD = "artifact_path";
const ROOT_NAME = "artifact root";

const exists = (p: string) =>
  fs.stat(p).then(
    () => true,
    () => false,
  );

/** The checkpoint a TensorFlow `checkpoint` state file names as latest (tf.train.latest_checkpoint). */
async function latestInStateFile(root: string, dir: string, relative: string): Promise<string> {
  const text = await fs.readFile(path.join(dir, "checkpoint"), "utf8");
  const latest = /^model_checkpoint_path:\s*"(.*)"\s*$/m.exec(text)?.[1];
  if (!latest) throw invalidArgument(FIELD, `"${relative}/checkpoint" names no model_checkpoint_path`);
  const prefix = path.resolve(dir, latest);
  // The state file is data: its path must stay inside the root like any request's path.
  await resolveUnder(root, path.relative(root, `${prefix}.index`), FIELD, ROOT_NAME);
  return prefix;
}

const WEIGHTS_H5 = ".weights.h5";

/** "epoch-9" before "epoch-10": names compared with their numbers as numbers. */
const byNameNumbersFirst = new Intl.Collator("en", { numeric: true }).compare;

/**
 * The last Keras weights file of a directory (a ModelCheckpoint(save_weights_only=True) run with
 * "epoch-{epoch:02d}.weights.h5" writes one per epoch), by name with numbers compared as numbers.
 */
async function lastWeightsFile(dir: string): Promise<string | undefined> {
  const names = (await fs.readdir(dir)).filter((n) => n.endsWith(WEIGHTS_H5)).sort(byNameNumbersFirst);
  return names.length > 0 ? path.join(dir, names.at(-1) as string) : undefined;
}

/**
 * Classifies `relative` (inside `root`): a SavedModel directory, a .keras file, a whole Keras model
 * saved as .h5, Keras weights (a
 * .weights.h5 file, or a directory of them: the last by name), or a TensorFlow
 * checkpoint given by its prefix ("ckpts/ckpt-10"), its .index file, or a directory with a
 * `checkpoint` state file (its latest checkpoint).
 */
export async function locateArtifact(rootDir: string, relative: string): Promise<Artifact> {
  const root = await fs.realpath(rootDir).catch(() => path.resolve(rootDir));
  if (
    relative !== "" &&
    !relative.endsWith(".index") &&
    !(await exists(path.resolve(root, relative))) &&
    (await exists(path.resolve(root, `${relative}.index`)))
  ) {
    const index = await resolveUnder(root, `${relative}.index`, FIELD, ROOT_NAME);
    return { format: "tf_checkpoint", prefix: index.slice(0, -".index".length) };
  }
  const full = await resolveUnder(root, relative, FIELD, ROOT_NAME);
  const stat = await fs.stat(full);
  if (stat.isDirectory()) {
    if (await exists(path.join(full, "saved_model.pb"))) return { format: "saved_model", dir: full };
    if (await exists(path.join(full, MANIFEST_FILE))) return { format: "modelbay_checkpoint", dir: full };
    if (await exists(path.join(full, "model.json")))
      return { format: "tfjs_layers", root, file: path.join(full, "model.json") };
    if (await exists(path.join(full, "checkpoint")))
      return { format: "tf_checkpoint", prefix: await latestInStateFile(root, full, relative) };
    const weights = await lastWeightsFile(full);
    // A link inside may lead out of the root, like any path a request names.
    if (weights)
      return {
        format: "keras_weights",
        file: await resolveUnder(root, path.relative(root, weights), FIELD, ROOT_NAME),
      };
  } else if (full.endsWith(".keras")) {
    return { format: "keras", file: full };
  } else if (full.endsWith(WEIGHTS_H5)) {
    return { format: "keras_weights", file: full };
  } else if (full.endsWith(".h5")) {
    return { format: "keras_h5", file: full };
  } else if (full.endsWith(".json")) {
    return { format: "tfjs_layers", root, file: full };
  } else if (full.endsWith(".index")) {
    return { format: "tf_checkpoint", prefix: full.slice(0, -".index".length) };
  }
  throw invalidArgument(
    FIELD,
    `"${relative}" is not a SavedModel directory, a .keras file, a Keras model saved as .h5, Keras weights (.weights.h5, or a directory of them), a TensorFlow checkpoint (prefix, .index file, or directory with a "checkpoint" file), a TensorFlow.js model.json, or a modelbay checkpoint directory`,
  );
}

/**
 * Reads a trainable artifact. A TensorFlow checkpoint and Keras weights hold weights only, so they
 * need the spec of the model they belong to.
 */
export async function readTrainableArtifact(
  artifact: Exclude<Artifact, { format: "saved_model" }>,
  label: string,
  spec: ModelSpec | undefined,
): Promise<ImportedTrainable> {
  if (artifact.format === "keras" || artifact.format === "keras_h5") {
    return readKerasArtifact({ format: artifact.format, file: artifact.file, label });
  }
  if (artifact.format === "tfjs_layers") return readTfjsLayers(artifact.root, artifact.file, label);
  if (artifact.format === "modelbay_checkpoint") return readCheckpointDirectory(artifact.dir, label);
  if (!spec) {
    const what = artifact.format === "keras_weights" ? "Keras weights file" : "TensorFlow checkpoint";
    throw new ModelbayError(
      Code.INVALID_ARGUMENT,
      `spec: a ${what} holds weights only; give the model's spec, or a target_model_id of an existing model to load them into`,
    );
  }
  if (artifact.format === "keras_weights")
    return readKerasArtifact({ format: "keras_weights", file: artifact.file, label, spec });
  return readTfCheckpoint(artifact.prefix, spec, label);
}

/** A model id for an artifact restored without a target id: its file or directory name. */
export function defaultModelId(relative: string): string {
  const base = path.basename(relative.replace(/[\\/]+$/, "")).replace(/(\.weights\.h5|\.keras|\.h5|\.index)$/, "");
  const id = base
    .replace(/[^A-Za-z0-9_.-]/g, "_")
    .replace(/\.\.+/g, ".")
    .slice(0, 128);
  return /^[A-Za-z0-9]/.test(id) ? id : `m${id}`.slice(0, 128);
}
