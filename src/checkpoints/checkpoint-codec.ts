// The files of a checkpoint. model.json + weights.bin are a standard TensorFlow.js layers model
// (loadable by tf.loadLayersModel and the tensorflowjs converter); optimizer.* hold the optimizer
// slots; state.json the spec, training cursor, metadata, metrics and versions.
import type { ModelSnapshot, NamedTensorData } from "../compute/engine.js";
import type { ModelSpec } from "../compute/model-spec.js";
import { checkedSpec } from "../compute/spec-check.js";
import {
  BYTES_PER_ELEMENT,
  type DType,
  elementCount,
  TENSORFLOW_ALIGNMENT_BYTES,
  type TensorSignature,
  typedView,
} from "../compute/tensor-data.js";
import { Code, ModelbayError, thrownAs } from "../errors.js";
import { isJsonObject } from "../json-object.js";

/** Where a training run stands, so that a resumed run continues exactly. */
export interface TrainingCursor {
  /** Epochs fully completed. */
  epoch: number;
  /** Optimizer steps taken since the model was created. */
  step: number;
  /** Batches of the current (incomplete) epoch already taken. */
  batchInEpoch: number;
  /** State of the shuffling PRNG at the start of the current epoch. */
  prngState: [number, number, number, number];
  shuffle: boolean;
  batchSize: number;
}

export interface CheckpointContent {
  modelId: string;
  spec: ModelSpec;
  snapshot: ModelSnapshot;
  metadata: { inputs: TensorSignature[]; outputs: TensorSignature[]; preprocessing: string };
  training?: TrainingCursor;
  metrics: Record<string, number>;
  backend: { name: string; tensorflowVersion: string; tfjsVersion: string };
  createTime: Date;
}

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: DType;
}

// optimizer.bin (format 2) starts every tensor on a TENSORFLOW_ALIGNMENT_BYTES boundary, zero
// bytes between, so that a store mapping the file hands TensorFlow every slot without a copy.
// weights.bin stays packed (model.json + weights.bin are a TensorFlow.js model, whose loaders read
// tensors back to back) but puts the largest tensors first, the largest at offset 0 (see
// weightFileOrder).
export const OPTIMIZER_ALIGNMENT = TENSORFLOW_ALIGNMENT_BYTES;
// The newest state.json format; format 1 packed optimizer.bin and kept weights.bin in model order.
const FORMAT_VERSION = 2;

/**
 * The order of the model's weights in weights.bin (format 2): position i of the file holds weight
 * order[i] of the model, the largest first (ties in model order). The largest thus starts the file
 * on a page, and the next ones stay 64-byte aligned while the sizes before them are multiples of 64
 * (a float kernel's with a multiple of 16 units): a mapped file needs no copy for them. TensorFlow.js
 * loaders match weights by name, so the file stays one of theirs.
 */
function weightFileOrder(specs: readonly Pick<WeightSpec, "shape" | "dtype">[]): number[] {
  const bytes = specs.map((s) => elementCount(s.shape) * (BYTES_PER_ELEMENT[s.dtype] ?? 0));
  return specs.map((_, i) => i).sort((a, b) => (bytes[b] as number) - (bytes[a] as number) || a - b);
}

/** The weights in the model's order, given them in file order and state.json's `weightOrder`. */
function inModelOrder(inFile: NamedTensorData[], order: readonly number[] | undefined): NamedTensorData[] {
  if (order === undefined) return inFile;
  const weights: NamedTensorData[] = [];
  order.forEach((k, i) => {
    if (!Number.isInteger(k) || k < 0 || k >= inFile.length || weights[k])
      throw new ModelbayError(Code.DATA_LOSS, "state.json: weightOrder is not an order of the model's weights");
    weights[k] = inFile[i] as NamedTensorData;
  });
  if (order.length !== inFile.length)
    throw new ModelbayError(Code.DATA_LOSS, "state.json: weightOrder does not cover every weight of model.json");
  return weights;
}

/**
 * Where each tensor of a .bin file starts and how many bytes it takes: in the specs' order, each at
 * the next multiple of `alignment` (1: back to back, as TensorFlow.js lays out a weights file).
 */
export function tensorLayout(
  specs: readonly Pick<WeightSpec, "shape" | "dtype">[],
  file: string,
  alignment = 1,
): { offset: number; bytes: number }[] {
  let end = 0;
  return specs.map((spec, i) => {
    const size = BYTES_PER_ELEMENT[spec.dtype];
    if (size === undefined) throw new ModelbayError(Code.DATA_LOSS, `${file}: unsupported dtype ${spec.dtype}`);
    // Read from a file: a shape that is not a list of sizes is damage, not something to compute with.
    if (!Array.isArray(spec.shape) || !spec.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new ModelbayError(Code.DATA_LOSS, `${file}: weight ${i} has shape ${JSON.stringify(spec.shape)}`);
    const at = { offset: Math.ceil(end / alignment) * alignment, bytes: elementCount(spec.shape) * size };
    end = at.offset + at.bytes;
    return at;
  });
}

/**
 * Where a checkpoint (format 2) puts the tensors of one of its .bin files, given their specs in the
 * model's (or the optimizer's) order: `order[i]` is the tensor at position i of the file, which
 * starts at `layout[i].offset`. weights.bin: weightFileOrder, packed; optimizer.bin: in order, each
 * slot on an OPTIMIZER_ALIGNMENT boundary.
 */
export function binLayout(
  file: "weights.bin" | "optimizer.bin",
  specs: readonly Pick<WeightSpec, "shape" | "dtype">[],
): { order: number[]; layout: { offset: number; bytes: number }[] } {
  const order = file === "weights.bin" ? weightFileOrder(specs) : specs.map((_, i) => i);
  const inFile = order.map((k) => specs[k] as Pick<WeightSpec, "shape" | "dtype">);
  return { order, layout: tensorLayout(inFile, file, file === "optimizer.bin" ? OPTIMIZER_ALIGNMENT : 1) };
}

/** optimizer.json: the slots' specs and how optimizer.bin aligns them (absent in format 1: packed). */
interface OptimizerJson {
  weights: readonly WeightSpec[];
  alignment?: number;
}

function optimizerAlignment(json: OptimizerJson): number {
  const a = json.alignment ?? 1;
  if (!Number.isInteger(a) || a < 1 || a > 4096 || (a & (a - 1)) !== 0)
    throw new ModelbayError(
      Code.DATA_LOSS,
      `optimizer.json: alignment ${String(json.alignment)} is not a power of two up to 4096`,
    );
  return a;
}

export function unpackWeights(
  specs: readonly WeightSpec[],
  data: Buffer,
  file: string,
  alignment = 1,
): NamedTensorData[] {
  const layout = tensorLayout(specs, file, alignment);
  return specs.map((spec, i) => {
    if (typeof spec.name !== "string") throw new ModelbayError(Code.DATA_LOSS, `${file}: weight ${i} has no name`);
    const { offset, bytes } = layout[i] as { offset: number; bytes: number };
    if (offset + bytes > data.byteLength)
      throw new ModelbayError(Code.DATA_LOSS, `${file} is shorter than its weight specs`);
    // A view when the bytes sit aligned in the buffer (a file read into its own allocation, as the
    // store reads them: no copy of a large state); a copy into fresh memory otherwise.
    const part = data.subarray(offset, offset + bytes);
    const aligned = part.byteOffset % BYTES_PER_ELEMENT[spec.dtype] === 0;
    const tensorData = typedView(spec.dtype, aligned ? part : new Uint8Array(part));
    return { name: spec.name, tensor: { dtype: spec.dtype, shape: spec.shape, data: tensorData } };
  });
}

/** The checkpoint's metadata without its tensor values. */
export type CheckpointHeader = Omit<CheckpointContent, "snapshot">;

/**
 * The small files of a checkpoint: model.json (topology and the layout of weights.bin),
 * optimizer.json (the layout of optimizer.bin) and state.json. The two .bin files hold the
 * tensors' little-endian bytes back to back, in the order of the specs.
 */
export function checkpointMetadataFiles(
  c: CheckpointHeader,
  topology: unknown,
  weightSpecs: readonly WeightSpec[],
  optimizerSpecs: readonly WeightSpec[],
): { path: string; data: Buffer }[] {
  const { order } = binLayout("weights.bin", weightSpecs);
  const modelJson = {
    format: "layers-model",
    generatedBy: "modelbay",
    convertedBy: null,
    modelTopology: topology,
    weightsManifest: [{ paths: ["weights.bin"], weights: order.map((k) => weightSpecs[k] as WeightSpec) }],
  };
  const state = {
    formatVersion: FORMAT_VERSION,
    weightOrder: order,
    modelId: c.modelId,
    spec: c.spec,
    metadata: c.metadata,
    training: c.training ?? null,
    metrics: c.metrics,
    backend: c.backend,
    createTime: c.createTime.toISOString(),
  };
  return [
    { path: "model.json", data: Buffer.from(JSON.stringify(modelJson)) },
    {
      path: "optimizer.json",
      data: Buffer.from(
        JSON.stringify({ alignment: OPTIMIZER_ALIGNMENT, weights: optimizerSpecs } satisfies OptimizerJson),
      ),
    },
    { path: "state.json", data: Buffer.from(JSON.stringify(state, null, 2)) },
  ];
}

function need(files: ReadonlyMap<string, Buffer>, name: string): Buffer {
  const data = files.get(name);
  if (!data) throw new ModelbayError(Code.DATA_LOSS, `checkpoint has no ${name}`);
  return data;
}

/**
 * Where weights.bin and optimizer.bin start in their buffers (see Placement): shifted so that the
 * largest tensor in each lands on a 64-byte boundary and reaches TensorFlow without a copy (the
 * others sit where the packing puts them; an aligned optimizer.bin needs no shift). 0 for other
 * files, or when the specs cannot be read (decoding then reports it).
 */
export function tensorPlacement(name: string, small: ReadonlyMap<string, Buffer>): number {
  let specs: readonly WeightSpec[];
  let alignment = 1;
  try {
    if (name === "weights.bin") {
      const modelJson = JSON.parse(small.get("model.json")?.toString("utf8") ?? "") as {
        weightsManifest: { weights: WeightSpec[] }[];
      };
      specs = modelJson.weightsManifest.flatMap((g) => g.weights);
    } else if (name === "optimizer.bin") {
      const json = JSON.parse(small.get("optimizer.json")?.toString("utf8") ?? "") as OptimizerJson;
      specs = json.weights;
      alignment = optimizerAlignment(json);
    } else {
      return 0;
    }
    const largest = tensorLayout(specs, name, alignment).reduce((a, b) => (b.bytes > a.bytes ? b : a), {
      offset: 0,
      bytes: -1,
    });
    return (TENSORFLOW_ALIGNMENT_BYTES - (largest.offset % TENSORFLOW_ALIGNMENT_BYTES)) % TENSORFLOW_ALIGNMENT_BYTES;
  } catch {
    return 0;
  }
}

const isBackend = (v: unknown): v is CheckpointContent["backend"] =>
  isJsonObject(v) &&
  typeof v.name === "string" &&
  typeof v.tensorflowVersion === "string" &&
  typeof v.tfjsVersion === "string";

const isTrainingCursor = (v: unknown): v is TrainingCursor =>
  isJsonObject(v) &&
  ["epoch", "step", "batchInEpoch", "batchSize"].every((k) => Number.isSafeInteger(v[k]) && (v[k] as number) >= 0) &&
  Array.isArray(v.prngState) &&
  v.prngState.length === 4 &&
  v.prngState.every((x) => Number.isSafeInteger(x)) &&
  typeof v.shuffle === "boolean";

/** The fields of state.json that listings and restores both read. */
function checkSummaryFields(state: { metrics: unknown; backend: unknown; training?: unknown }): void {
  const metricsOk = isJsonObject(state.metrics) && Object.values(state.metrics).every((v) => typeof v === "number");
  if (!metricsOk || !isBackend(state.backend) || (state.training && !isTrainingCursor(state.training)))
    throw new ModelbayError(Code.DATA_LOSS, "state.json: metrics, backend or training are malformed");
}

/**
 * Decodes a checkpoint's files. Their hashes say they are the files that were written, not that
 * they are well formed (a checkpoint directory given to Restore may have been made anywhere): what
 * does not decode is DATA_LOSS, never an error of the server.
 */
export function decodeCheckpoint(files: ReadonlyMap<string, Buffer>): CheckpointContent {
  return undecodable(() => decodeFiles(files));
}

function undecodable<T>(decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    throw thrownAs(Code.DATA_LOSS, "the checkpoint's files do not decode", err);
  }
}

function decodeFiles(files: ReadonlyMap<string, Buffer>): CheckpointContent {
  const modelJson = JSON.parse(need(files, "model.json").toString("utf8")) as {
    modelTopology: unknown;
    weightsManifest: { weights: WeightSpec[] }[];
  };
  const optimizerJson = JSON.parse(need(files, "optimizer.json").toString("utf8")) as OptimizerJson;
  const state = JSON.parse(need(files, "state.json").toString("utf8")) as Omit<
    CheckpointContent,
    "snapshot" | "createTime" | "training"
  > & {
    formatVersion: number;
    weightOrder?: number[];
    createTime: string;
    training: TrainingCursor | null;
  };
  if (state.formatVersion !== 1 && state.formatVersion !== FORMAT_VERSION)
    throw new ModelbayError(Code.FAILED_PRECONDITION, `checkpoint format ${state.formatVersion} is not supported`);
  checkSummaryFields(state);
  if (typeof state.modelId !== "string") throw new ModelbayError(Code.DATA_LOSS, "state.json: modelId is malformed");
  // Its size is checked where the model is opened.
  const spec = checkedSpec(state.spec, (problem) => new ModelbayError(Code.DATA_LOSS, `state.json: spec ${problem}`));
  return {
    modelId: state.modelId,
    spec,
    metadata: state.metadata,
    ...(state.training ? { training: state.training } : {}),
    metrics: state.metrics,
    backend: state.backend,
    createTime: new Date(state.createTime),
    snapshot: {
      topology: modelJson.modelTopology,
      weights: inModelOrder(
        unpackWeights(
          modelJson.weightsManifest.flatMap((g) => g.weights),
          need(files, "weights.bin"),
          "weights.bin",
        ),
        state.weightOrder,
      ),
      optimizer: unpackWeights(
        optimizerJson.weights,
        need(files, "optimizer.bin"),
        "optimizer.bin",
        optimizerAlignment(optimizerJson),
      ),
    },
  };
}

/** What listings show of a checkpoint, read from its state.json alone. */
export interface CheckpointSummary {
  epoch: number;
  step: number;
  metrics: Record<string, number>;
  backend: string;
}

export function summarizeState(stateJson: Buffer): CheckpointSummary {
  return undecodable(() => summarize(stateJson));
}

function summarize(stateJson: Buffer): CheckpointSummary {
  const state = JSON.parse(stateJson.toString("utf8")) as {
    training: TrainingCursor | null;
    metrics: Record<string, number>;
    backend: CheckpointContent["backend"];
  };
  checkSummaryFields(state);
  const b = state.backend;
  return {
    epoch: state.training?.epoch ?? 0,
    step: state.training?.step ?? 0,
    metrics: state.metrics ?? {},
    backend: `${b.name}${b.tensorflowVersion ? ` ${b.tensorflowVersion}` : ""} (tfjs ${b.tfjsVersion})`,
  };
}
