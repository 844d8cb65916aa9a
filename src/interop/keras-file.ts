// Keras 3 model files (.keras): a zip holding config.json (the model and its compile config) and
// model.weights.h5 (HDF5: layers/<name>/vars/<i> per layer, optimizer/vars/<i> for the optimizer).
import fs from "node:fs/promises";
import { unzipSync } from "fflate";
import type { NamedTensorData } from "../compute/engine.js";
import type { ModelSpec } from "../compute/model-spec.js";
import type { TensorData } from "../compute/tensor-data.js";
import { Code, ModelbayError } from "../errors.js";
import { numberedDatasets, readHdf5 } from "./hdf5.js";
import { kerasConfigToSpec, kerasWeightGroups } from "./keras-config.js";
import { adamStateFromKeras } from "./optimizer-slots.js";

export interface ImportedTrainable {
  spec: ModelSpec;
  weights: NamedTensorData[];
  optimizer: NamedTensorData[];
  warnings: string[];
}

const bad = (file: string, what: string) => new ModelbayError(Code.INVALID_ARGUMENT, `${file}: ${what}`);

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
  // kerasConfigToSpec has checked that each layer is a Keras object.
  const layers = (
    (parsed as { config: { layers?: Array<{ class_name: string; config: { name: string } }> } }).config.layers ?? []
  ).filter((l) => l.class_name !== "InputLayer");
  const groups = kerasWeightGroups(layers.map((l) => l.class_name));
  let weights: NamedTensorData[];
  let optimizerVars: TensorData[];
  try {
    [weights, optimizerVars] = await readHdf5(weightsH5, (h5) => [
      layers.flatMap((layer, k) =>
        numberedDatasets(h5, `${groups[k]}/vars`, label).map((tensor, i) => ({
          name: `${layer.config.name}/vars/${i}`,
          tensor,
        })),
      ),
      numberedDatasets(h5, "optimizer/vars", label),
    ]);
  } catch (err) {
    if (err instanceof ModelbayError) throw err;
    throw bad(label, `model.weights.h5 is not readable HDF5 (${err instanceof Error ? err.message : String(err)})`);
  }
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
