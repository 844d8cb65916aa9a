// An engine that runs models on the calling thread. Used by tests, benchmarks and the CLI's
// offline checks; the server will run the same code inside device workers.
import * as tf from "@tensorflow/tfjs";
import { Code, ModelbayError } from "../errors.js";
import { initBackend } from "./backend.js";
import type { BackendChoice } from "./backend-choice.js";
import { type DenseForward, denseForward, FORWARD_CHUNK_ROWS } from "./dense-forward.js";
import type {
  ComputeEngine,
  ComputeModel,
  ModelDescription,
  ModelSnapshot,
  NamedTensorData,
  PredictWait,
  StateCapture,
} from "./engine.js";
import { createGraphTrainer, type GraphTrainer } from "./graph/graph-trainer.js";
import { slotsInModelOrder } from "./keras-slot-order.js";
import { refusedByLayers } from "./layer-errors.js";
import { everyLayer, layerApplications, weightNamings } from "./layer-tree.js";
import { buildModel } from "./model-builder.js";
import type { ModelSpec } from "./model-spec.js";
import { modelTopology } from "./model-topology.js";
import { captureOptimizerState, writeOptimizerState } from "./optimizer-state.js";
import { activationElementsPerRow, predictBatchRows } from "./predict-batch.js";
import { loadSavedModel } from "./saved-model.js";
import { predictInSlices, sliceRows } from "./sliced-predict.js";
import { readTensorBytesInto } from "./tensor-bytes-into.js";
import { fromTensor, readsReturnCopies, releaseHostCopy, toDType, toTensor } from "./tensor-conversion.js";
import {
  BYTES_PER_ELEMENT,
  elementCount,
  elementsPerRow,
  TENSORFLOW_ALIGNMENT_BYTES,
  type TensorData,
  type TensorSignature,
} from "./tensor-data.js";
import { createTrainer, fed, listed, type Trainer, type TrainerOptions } from "./trainer.js";

/**
 * What Predict calls a model's inputs (or outputs): one alone takes the spec's name ("input", or
 * the caller's choice); several take their Keras layers' names, as TensorFlow Serving names a Keras
 * model's signature, and a layer that gives several of them numbers each after the first ("y_1").
 */
function tensorNames(layerNames: readonly string[], single: string): string[] {
  if (layerNames.length === 1) return [single];
  const taken = new Set<string>();
  return layerNames.map((name) => {
    let unique = name;
    for (let n = 1; taken.has(unique); n++) unique = `${name}_${n}`;
    taken.add(unique);
    return unique;
  });
}

function describe(model: tf.LayersModel, spec: ModelSpec): ModelDescription {
  const signature = (t: tf.SymbolicTensor, name: string): TensorSignature => {
    // A topology read from a file can declare anything (even a shape that is not a list); what
    // Predict checks against and GetModel reports must be sizes (-1: any) and a dtype it serves.
    const declared: unknown = t.shape;
    const shape = Array.isArray(declared) ? declared.map((d: unknown) => d ?? -1) : [declared];
    const sizes = (s: unknown[]): s is number[] => s.every((d) => Number.isSafeInteger(d) && (d as number) >= -1);
    if (!sizes(shape) || !(t.dtype in BYTES_PER_ELEMENT)) {
      throw new ModelbayError(
        Code.INVALID_ARGUMENT,
        `the model's ${name} is ${t.dtype} ${JSON.stringify(declared)}; expected float32, int32 or bool with sizes`,
      );
    }
    return { name, dtype: toDType(t.dtype), shape };
  };
  const count = (weights: tf.LayerVariable[]) =>
    weights.reduce((n, w) => n + w.shape.reduce<number>((a, d) => a * (d ?? 0), 1), 0);
  const parameterCount = count(model.weights);
  const perRow = activationElementsPerRow(model);
  const [inputNames, outputNames] = [
    tensorNames(model.inputNames, spec.inputName),
    tensorNames(model.outputNames, spec.outputName),
  ];
  return {
    ...(perRow === undefined ? {} : { activationsPerRow: perRow }),
    inputs: model.inputs.map((t, i) => signature(t, inputNames[i] as string)),
    outputs: model.outputs.map((t, i) => signature(t, outputNames[i] as string)),
    parameterCount,
    trainableParameterCount: count(model.trainableWeights),
    weightBytes: parameterCount * 4,
  };
}

/** Rows up to this size are tried (256 KiB of float32: tabular rows, short sequences, small images). */
const CHECKED_ROW_ELEMENTS = 2 ** 16;
/** ...with no axis longer than this (a TimeDistributed layer steps along its axis one op at a time). */
const CHECKED_AXIS_LENGTH = 4096;

/**
 * A Keras JSON topology can put together layers that build but cannot compute (a softmax over an
 * axis TensorFlow.js does not support, a category encoding of too high a rank): one row of zeros
 * through it finds out when the model is made, not at its first Predict. Only where that row is
 * known and cheap: not when a dimension other than the batch is free (no one size fits every model),
 * for rows over CHECKED_ROW_ELEMENTS or an axis over CHECKED_AXIS_LENGTH, or through recurrent
 * layers, whose cost grows with a sequence length the row alone does not bound (a million steps hold
 * the device for minutes). What is not tried here is still answered as the caller's error at
 * Predict (layer-errors.ts).
 */
function checkComputes(model: tf.LayersModel, inputs: readonly TensorSignature[]): void {
  const rows = inputs.map((input) => input.shape.slice(1));
  const cheap = rows.every(
    (dims) => dims.every((d) => d >= 0 && d <= CHECKED_AXIS_LENGTH) && elementCount(dims) <= CHECKED_ROW_ELEMENTS,
  );
  // tfjs-layers steps a recurrent layer in JavaScript, one op per step.
  if (!cheap || everyLayer(model).some((layer) => layer instanceof tf.RNN)) return;
  const shapes = rows.map((dims) => [1, ...dims]);
  const shown = shapes.map((shape) => `[${shape.join(", ")}]`).join(" and ");
  refusedByLayers(`spec: the model builds but cannot compute an input of shape ${shown}`, () =>
    tf.tidy(() => {
      model.predict(shapes.map((shape, i) => tf.zeros(shape, inputs[i]?.dtype)));
    }),
  );
}

/**
 * A declared dimension of size 0 (an input of shape [-1, 3, 0]) makes a model that can take no data,
 * and some of TensorFlow's kernels divide by such a size: a Conv3DTranspose of zero channels ends
 * the process with SIGFPE. Every layer's input and output is checked, so nothing of size 0 ever runs.
 */
function checkNoEmptyDimension(model: tf.LayersModel): void {
  for (const { layer, inputs, outputs } of layerApplications(model)) {
    for (const [side, shapes] of [
      ["input", inputs],
      ["output", outputs],
    ] as const) {
      const empty = shapes.find((shape) => Array.isArray(shape) && shape.includes(0));
      if (empty) {
        throw new ModelbayError(
          Code.INVALID_ARGUMENT,
          `spec: layer "${layer.name}" has an ${side} of shape ${JSON.stringify(empty)}, with a dimension of size 0`,
        );
      }
    }
  }
}

/** The model with its description, or freed if it cannot be described or cannot compute. */
function described(model: tf.LayersModel, spec: ModelSpec): InProcessModel {
  try {
    const description = describe(model, spec);
    checkNoEmptyDimension(model);
    if (spec.topology.kind === "keras-json") checkComputes(model, description.inputs);
    return new InProcessModel(model, description);
  } catch (err) {
    model.dispose();
    throw err;
  }
}

class InProcessModel implements ComputeModel {
  private graphTrainer: GraphTrainer | undefined;
  /** Dense stacks skip tfjs-layers' predict machinery (one graph run per 8192 rows). */
  private readonly forward: DenseForward | undefined;

  constructor(
    private readonly model: tf.LayersModel,
    readonly description: ModelDescription,
  ) {
    this.forward = denseForward(model);
  }

  async predict(inputs: readonly TensorData[], wait: PredictWait = {}): Promise<TensorData[]> {
    await this.syncFromGraph();
    const batchRows = this.forward ? FORWARD_CHUNK_ROWS : this.layersBatchRows(inputs);
    const rows = sliceRows(batchRows, FORWARD_CHUNK_ROWS);
    // Only a caller who can stop waiting needs the slices (and their copy of the outputs).
    const stoppable = wait.deadline !== undefined || wait.onCancel !== undefined;
    if (!stoppable || (inputs[0]?.shape[0] ?? 0) <= rows) return this.predictAtOnce(inputs, batchRows);
    return predictInSlices(inputs, rows, wait, (slice) => this.predictAtOnce(slice, batchRows));
  }

  private async predictAtOnce(inputs: readonly TensorData[], batchRows: number): Promise<TensorData[]> {
    const forward = this.forward;
    const outputs = tf.tidy(() => {
      const tensors = inputs.map(toTensor);
      return forward && tensors.length === 1
        ? [forward.run(tensors[0] as tf.Tensor)]
        : this.layersPredict(tensors, batchRows);
    });
    try {
      // One output (most models) skips Promise.all's extra turn on the predict path.
      return outputs.length === 1
        ? [await fromTensor(outputs[0] as tf.Tensor)]
        : await Promise.all(outputs.map(fromTensor));
    } finally {
      for (const output of outputs) output.dispose();
    }
  }

  private layersBatchRows(inputs: readonly TensorData[]): number {
    return predictBatchRows(this.description.activationsPerRow, elementsPerRow(inputs));
  }

  /** tfjs-layers' predict, for models of any layers (layer-errors.ts says what a refusal means). */
  private layersPredict(inputs: tf.Tensor[], batchSize: number): tf.Tensor[] {
    return refusedByLayers("the model cannot compute this input", () =>
      listed(this.model.predict(fed(inputs), { batchSize })),
    );
  }

  async getWeights(): Promise<NamedTensorData[]> {
    await this.syncFromGraph();
    return Promise.all(
      this.model.weights.map(async (w) => ({ name: w.originalName, tensor: await fromTensor(w.read()) })),
    );
  }

  async captureState(): Promise<StateCapture> {
    await this.syncFromGraph();
    const weights = this.model.weights.map((w) => ({ name: w.originalName, tensor: tf.clone(w.read()) }));
    const optimizer = this.model.optimizer ? await captureOptimizerState(this.model.optimizer) : [];
    const held = [
      ...weights.map((w) => ({ ...w, group: "weights" as const })),
      ...optimizer.map((w) => ({ ...w, group: "optimizer" as const })),
    ];
    let released = false;
    return {
      topology: modelTopology(this.model),
      tensors: held.map((h) => ({
        group: h.group,
        name: h.name,
        dtype: toDType(h.tensor.dtype),
        shape: [...h.tensor.shape],
      })),
      async read(index, start, count, into) {
        const held_ = held[index];
        if (!held_ || released) throw new ModelbayError(Code.FAILED_PRECONDITION, "the captured state was released");
        const size = BYTES_PER_ELEMENT[toDType(held_.tensor.dtype)];
        if (count * size > into.byteLength) {
          throw new ModelbayError(Code.INTERNAL, `a read of ${count * size} bytes does not fit ${into.byteLength}`);
        }
        const wanted = into.subarray(0, count * size);
        if (readTensorBytesInto(held_.tensor, start * size, wanted)) return wanted;
        // Elsewhere (WASM, an addon without tensorDataInto) through a slice read. TensorFlow's
        // Slice shares its input's memory only when both ends fall on 64-byte boundaries (or the
        // end is the tensor's); otherwise it copies, on its thread pool. So the slice read is
        // widened to such ends, and the bytes asked for are picked out of it here.
        const step = TENSORFLOW_ALIGNMENT_BYTES / size;
        const from = start - (start % step);
        const to = Math.min(held_.tensor.size, Math.ceil((start + count) / step) * step);
        const part = tf.tidy(() => held_.tensor.reshape([-1]).slice([from], [to - from]));
        try {
          const { data } = await fromTensor(part);
          wanted.set(new Uint8Array(data.buffer, data.byteOffset + (start - from) * size, count * size));
          // A slice is a new tensor, and where reads are copies this one is ours to free.
          if (part.dataId !== held_.tensor.dataId && readsReturnCopies()) releaseHostCopy(data);
          return wanted;
        } finally {
          part.dispose();
        }
      },
      release() {
        if (released) return;
        released = true;
        for (const h of held) h.tensor.dispose();
      },
    };
  }

  async setWeights(weights: readonly NamedTensorData[]): Promise<void> {
    await this.syncFromGraph();
    const current = this.model.weights;
    if (weights.length !== current.length) {
      throw new ModelbayError(
        Code.INVALID_ARGUMENT,
        `the model has ${current.length} weight tensors; got ${weights.length} (${weights.map((w) => w.name).join(", ")})`,
      );
    }
    // By name when the given names cover the model's once each (a TensorFlow.js weights file may
    // list them in any order; modelbay's puts the largest first); by layer path (a .keras file's or
    // a TensorFlow checkpoint's, whose order follows the layers, where tfjs-layers puts every
    // trainable weight first); else by position.
    const byName = new Map(weights.map((w) => [w.name, w]));
    const naming =
      byName.size === weights.length
        ? weightNamings(this.model).find((name) => current.every((w) => byName.has(name(w))))
        : undefined;
    const ordered = naming ? current.map((w) => byName.get(naming(w)) as NamedTensorData) : weights;
    current.forEach((w, i) => {
      const given = ordered[i] as NamedTensorData;
      if (given.tensor.shape.join(",") !== w.shape.join(",")) {
        throw new ModelbayError(
          Code.INVALID_ARGUMENT,
          `weight ${i} "${given.calledInFile ?? given.name}" has shape [${given.tensor.shape.join(", ")}]; the model's ${w.originalName} needs [${w.shape.join(", ")}]`,
        );
      }
    });
    const tensors = ordered.map((w) => toTensor(w.tensor));
    this.model.setWeights(tensors);
    for (const t of tensors) t.dispose();
    this.graphTrainer?.invalidate();
  }

  /** `weightNames`: the weights' names in the order their slots follow, for slots in Keras' order. */
  async setOptimizerState(state: readonly NamedTensorData[], weightNames: readonly string[]): Promise<void> {
    await this.syncFromGraph();
    await writeOptimizerState(this.model.optimizer, slotsInModelOrder(this.model, state, weightNames));
    this.graphTrainer?.invalidate();
  }

  async createTrainer(x: readonly TensorData[], y: readonly TensorData[], opts: TrainerOptions): Promise<Trainer> {
    await this.syncFromGraph();
    // The one-call step is for Dense stacks: one input, one output.
    const [x0, y0] = [x[0], y[0]];
    const graph =
      x.length === 1 && y.length === 1 && x0 && y0
        ? createGraphTrainer(this.model, this.model.optimizer, x0, y0, opts)
        : "several inputs or outputs";
    if (typeof graph === "string") return createTrainer(this.model, this.model.optimizer, x, y, opts);
    this.graphTrainer = graph;
    return graph;
  }

  /** A graph trainer holds the newest weights and slots while it trains: readers take them back first. */
  private async syncFromGraph(): Promise<void> {
    const graph = this.graphTrainer;
    if (!graph) return;
    await graph.flush();
    if (graph.finished) this.graphTrainer = undefined;
  }

  dispose(): void {
    this.graphTrainer?.close();
    this.forward?.release();
    this.model.optimizer?.dispose();
    this.model.dispose();
  }
}

export interface EngineLimits {
  /** The server's whole memory budget (--max-session-bytes): no model built here may exceed it. */
  maxModelBytes?: number;
}

export async function createInProcessEngine(choice: BackendChoice, limits: EngineLimits = {}): Promise<ComputeEngine> {
  const backend = await initBackend(choice);
  const { maxModelBytes } = limits;
  return {
    backend,
    async buildModel(spec: ModelSpec): Promise<ComputeModel> {
      return described(await buildModel(spec, false, maxModelBytes), spec);
    },
    async restoreModel(spec: ModelSpec, snapshot: Pick<ModelSnapshot, "weights" | "optimizer">): Promise<ComputeModel> {
      const restored = described(await buildModel(spec, true, maxModelBytes), spec);
      try {
        await restored.setWeights(snapshot.weights);
        await restored.setOptimizerState(
          snapshot.optimizer,
          snapshot.weights.map((w) => w.name),
        );
        return restored;
      } catch (err) {
        restored.dispose();
        throw err;
      }
    },
    loadSavedModel: (dir: string) => loadSavedModel(backend, dir),
    memory: async () => {
      const m = tf.memory();
      return { numTensors: m.numTensors, numBytes: m.numBytes };
    },
  };
}
