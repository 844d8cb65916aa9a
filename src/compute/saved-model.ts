// TensorFlow SavedModels served as predict-only models through the native backend's session API
// (TF_SessionRun on the SavedModel's serving signature). Keras layers cannot be rebuilt from a
// SavedModel's graph, so these models cannot train, snapshot or change weights.
import type * as tf from "@tensorflow/tfjs";
import { Code, ModelbayError } from "../errors.js";
import type { BackendInfo } from "./backend-choice.js";
import type { ComputeModel, ModelDescription } from "./engine.js";
import { checkSavedModelDecodes } from "./saved-model-decode.js";
import { fromTensor, toTensor } from "./tensor-conversion.js";
import type { TensorData, TensorSignature } from "./tensor-data.js";

const SERVE_TAG = "serve";
const SERVING_SIGNATURE = "serving_default";

interface SignatureTensor {
  dtype: string;
  name: string;
  shape: Array<{ getSize?(): number; size?: number }> | undefined;
}
interface MetaGraph {
  tags: string[];
  signatureDefs: Record<string, { inputs: Record<string, SignatureTensor>; outputs: Record<string, SignatureTensor> }>;
}
interface SavedModelApi {
  getMetaGraphsFromSavedModel(dir: string): Promise<MetaGraph[]>;
  loadSavedModel(dir: string, tags: string[], signature: string): Promise<LoadedSavedModel>;
}
interface LoadedSavedModel {
  /** A list of inputs in the signature's order gives a list of outputs in its order. */
  predict(inputs: tf.Tensor[]): tf.Tensor[];
  dispose(): void;
}

const packageOf = (backend: BackendInfo) =>
  backend.name === "tensorflow-gpu" ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node";

async function savedModelApi(backend: BackendInfo): Promise<SavedModelApi> {
  if (!backend.name.startsWith("tensorflow")) {
    throw new ModelbayError(
      Code.FAILED_PRECONDITION,
      `SavedModels run only on the native TensorFlow backend; this server runs "${backend.name}"`,
    );
  }
  const mod = (await import(packageOf(backend))) as { node: SavedModelApi };
  return mod.node;
}

function signatureOf(key: string, t: SignatureTensor, where: string): TensorSignature {
  if (t.dtype !== "float32" && t.dtype !== "int32") {
    throw new ModelbayError(
      Code.INVALID_ARGUMENT,
      `${where} "${key}" has dtype ${t.dtype}; modelbay serves float32 and int32`,
    );
  }
  const shape = (t.shape ?? []).map((d) => Number(d.getSize ? d.getSize() : d.size));
  return { name: key, dtype: t.dtype, shape };
}

/** Reads the serving signature: its inputs and outputs, in the order TensorFlow.js feeds and returns them. */
async function describeSavedModel(api: SavedModelApi, dir: string): Promise<ModelDescription> {
  const metas = await api.getMetaGraphsFromSavedModel(dir).catch((err: unknown) => {
    throw new ModelbayError(
      Code.INVALID_ARGUMENT,
      `not a readable SavedModel: ${String(err instanceof Error ? err.message : err)}`,
    );
  });
  const meta = metas.find((m) => m.tags.includes(SERVE_TAG));
  const signature = meta?.signatureDefs[SERVING_SIGNATURE];
  if (!meta || !signature) {
    const found = metas.flatMap((m) => Object.keys(m.signatureDefs).map((s) => `${m.tags.join(",")}/${s}`));
    throw new ModelbayError(
      Code.INVALID_ARGUMENT,
      `the SavedModel has no "${SERVE_TAG}" graph with a "${SERVING_SIGNATURE}" signature (found: ${found.join(", ") || "none"})`,
    );
  }
  const inputs = Object.entries(signature.inputs);
  const outputs = Object.entries(signature.outputs);
  if (inputs.length === 0 || outputs.length === 0) {
    throw new ModelbayError(
      Code.INVALID_ARGUMENT,
      `the serving signature has ${inputs.length} inputs and ${outputs.length} outputs; a model needs at least one of each`,
    );
  }
  return {
    inputs: inputs.map(([key, t]) => signatureOf(key, t, "input")),
    outputs: outputs.map(([key, t]) => signatureOf(key, t, "output")),
    parameterCount: 0,
    trainableParameterCount: 0,
    weightBytes: 0,
  };
}

const predictOnly = (what: string) =>
  new ModelbayError(
    Code.FAILED_PRECONDITION,
    `this model was restored from a SavedModel and is predict-only: cannot ${what}`,
  );

class SavedModelComputeModel implements ComputeModel {
  constructor(
    private readonly model: LoadedSavedModel,
    readonly description: ModelDescription,
  ) {}

  async predict(inputs: readonly TensorData[]): Promise<TensorData[]> {
    const xs = inputs.map(toTensor);
    let outputs: tf.Tensor[] = [];
    try {
      outputs = this.model.predict(xs);
      if (outputs.length !== this.description.outputs.length) {
        throw new ModelbayError(
          Code.INTERNAL,
          `the SavedModel returned ${outputs.length} outputs where its signature has ${this.description.outputs.length}`,
        );
      }
      return await Promise.all(outputs.map(fromTensor));
    } finally {
      for (const t of [...xs, ...outputs]) t.dispose();
    }
  }
  async getWeights(): Promise<never> {
    throw predictOnly("read weights");
  }
  async setWeights(): Promise<never> {
    throw predictOnly("set weights");
  }
  async captureState(): Promise<never> {
    throw predictOnly("checkpoint it (restore the SavedModel again instead)");
  }
  async createTrainer(): Promise<never> {
    throw predictOnly("train it");
  }
  dispose(): void {
    this.model.dispose();
  }
}

/** Loads the SavedModel in `dir` (already resolved inside the artifact root). */
export async function loadSavedModel(backend: BackendInfo, dir: string): Promise<ComputeModel> {
  const api = await savedModelApi(backend);
  await checkSavedModelDecodes(packageOf(backend), dir);
  const description = await describeSavedModel(api, dir);
  const model = await api.loadSavedModel(dir, [SERVE_TAG], SERVING_SIGNATURE).catch((err: unknown) => {
    throw new ModelbayError(
      Code.INVALID_ARGUMENT,
      `the SavedModel did not load: ${String(err instanceof Error ? err.message : err)}`,
    );
  });
  return new SavedModelComputeModel(model, description);
}
