// Keras 3 model files (.keras): a zip holding config.json (the model and its compile config) and
// model.weights.h5 (HDF5: layers/<name>/vars/<i> per layer, optimizer/vars/<i> for the optimizer).
import fs from "node:fs/promises";
import { unzipSync } from "fflate";
import * as hdf5 from "jsfive";
import type { NamedTensorData } from "../compute/engine.js";
import type { ModelSpec } from "../compute/model-spec.js";
import type { TensorData } from "../compute/tensor-data.js";
import { Code, ModelbayError } from "../errors.js";
import { kerasConfigToSpec } from "./keras-config.js";
import { adamStateFromKeras } from "./optimizer-slots.js";

export interface ImportedTrainable {
  spec: ModelSpec;
  weights: NamedTensorData[];
  optimizer: NamedTensorData[];
  warnings: string[];
}

interface H5Dataset {
  shape: number[];
  dtype: string;
  value: ArrayLike<number | bigint>;
}
interface H5Group {
  keys: string[];
}

const bad = (file: string, what: string) => new ModelbayError(Code.INVALID_ARGUMENT, `${file}: ${what}`);

function datasetTensor(d: H5Dataset, path: string, file: string): TensorData {
  const values = Array.from(d.value, Number);
  if (/^[<>]f[48]$/.test(d.dtype)) return { dtype: "float32", shape: [...d.shape], data: Float32Array.from(values) };
  if (/^[<>]i[48]$/.test(d.dtype)) return { dtype: "int32", shape: [...d.shape], data: Int32Array.from(values) };
  throw bad(file, `${path} has HDF5 dtype ${d.dtype}; modelbay reads float and integer weights`);
}

/** Datasets <group>/0, <group>/1, ... in numeric order. */
function numbered(f: hdf5.File, group: string, file: string): TensorData[] {
  const g = f.get(group) as H5Group | undefined;
  if (!g) return [];
  return g.keys
    .map(Number)
    .sort((a, b) => a - b)
    .map((i) => datasetTensor(f.get(`${group}/${i}`) as H5Dataset, `${group}/${i}`, file));
}

export async function readKerasFile(file: string, label: string): Promise<ImportedTrainable> {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(new Uint8Array(await fs.readFile(file)));
  } catch (err) {
    throw bad(label, `not a readable .keras zip (${err instanceof Error ? err.message : String(err)})`);
  }
  const config = entries["config.json"];
  const weightsH5 = entries["model.weights.h5"];
  if (!config || !weightsH5) throw bad(label, "a .keras file needs config.json and model.weights.h5");
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(config));
  } catch {
    throw bad(label, "config.json is not JSON");
  }
  const spec = kerasConfigToSpec(parsed);
  let h5: hdf5.File;
  try {
    h5 = new hdf5.File(weightsH5.slice().buffer, "model.weights.h5");
  } catch (err) {
    throw bad(label, `model.weights.h5 is not readable HDF5 (${err instanceof Error ? err.message : String(err)})`);
  }
  const layerNames = (
    parsed as { config: { layers: Array<{ class_name: string; config: { name: string } }> } }
  ).config.layers
    .filter((l) => l.class_name !== "InputLayer")
    .map((l) => l.config.name);
  const weights = layerNames.flatMap((name) =>
    numbered(h5, `layers/${name}/vars`, label).map((tensor, i) => ({ name: `${name}/vars/${i}`, tensor })),
  );
  const optimizerVars = numbered(h5, "optimizer/vars", label);
  const warnings: string[] = [];
  let optimizer: NamedTensorData[] = [];
  if (optimizerVars.length > 0) {
    const [iterations, , ...slots] = optimizerVars;
    if (spec.compile.optimizer.kind === "adam" && iterations) {
      optimizer = adamStateFromKeras({ iterations, slots }, weights);
    } else {
      warnings.push(`the ${spec.compile.optimizer.kind} optimizer's state was not imported; training starts it afresh`);
    }
  }
  return { spec, weights, optimizer, warnings };
}
