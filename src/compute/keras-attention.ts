/**
 * Keras' MultiHeadAttention, which TensorFlow.js lacks: the attention of every Keras Transformer
 * (text and time series classifiers, decoders with a causal mask). Registered under Keras' class
 * name so that a Keras model holding it builds, predicts and trains here; weights in Keras' order
 * and shapes (query, key, value, attention_output: a kernel and a bias each), so that its files map
 * onto them one for one. It attends over the sequence axis of [batch, steps, features] inputs, as
 * Keras does by default; test/keras3-models.test.ts compares it with Keras 3.
 *
 * TensorFlow.js passes a layer no keyword arguments from its config, so a call's
 * `use_causal_mask` comes in the layer's config (src/compute/keras-attention-calls.ts puts it
 * there). Masks of the inputs (an Embedding's `mask_zero`) come as TensorFlow.js hands them: the
 * query's; the value's is the query's when they are one tensor (self-attention).
 */
import * as tf from "@tensorflow/tfjs";
import { KERAS_ATTENTION_CLASSES } from "./keras-attention-calls.js";
import { firstMask, masksOf, type Shape, shapesOf } from "./layer-inputs.js";

type Config = tf.serialization.ConfigDict;
type Kwargs = Record<string, unknown>;
type AddWeight = Parameters<tf.layers.Layer["addWeight"]>;

/** The masked logits' value: exp of it is 0 beside any unmasked logit (Keras uses the same order). */
const LARGE_NEGATIVE = -1e9;

/** TensorFlow.js' own reading of a Keras initializer, regularizer or constraint config, as a Dense layer does it. */
function denseParts(config: Config) {
  const dense = tf.layers.dense({
    units: 1,
    kernelInitializer: config.kernelInitializer as never,
    biasInitializer: config.biasInitializer as never,
    kernelRegularizer: config.kernelRegularizer as never,
    biasRegularizer: config.biasRegularizer as never,
    kernelConstraint: config.kernelConstraint as never,
    biasConstraint: config.biasConstraint as never,
  }) as unknown as Record<string, unknown>;
  return {
    kernelInitializer: dense.kernelInitializer as AddWeight[3],
    biasInitializer: dense.biasInitializer as AddWeight[3],
    kernelRegularizer: dense.kernelRegularizer as AddWeight[4],
    biasRegularizer: dense.biasRegularizer as AddWeight[4],
    kernelConstraint: dense.kernelConstraint as AddWeight[6],
    biasConstraint: dense.biasConstraint as AddWeight[6],
  };
}

/** A kernel [in, ...out] and bias [...out], applied to the last axis of x. */
interface Projection {
  kernel: tf.LayerVariable;
  bias?: tf.LayerVariable;
}

export class MultiHeadAttention extends tf.layers.Layer {
  static readonly className = "MultiHeadAttention";
  private readonly numHeads: number;
  private readonly keyDim: number;
  private readonly valueDim: number;
  private readonly dropout: number;
  private readonly useBias: boolean;
  private readonly outputDim: number | undefined;
  private readonly useCausalMask: boolean;
  private readonly parts: ReturnType<typeof denseParts>;
  private readonly config: Config;
  private projections: Record<"query" | "key" | "value" | "output", Projection> | undefined;

  constructor(config: Config) {
    super(config);
    this.config = config;
    this.supportsMasking = true;
    this.numHeads = positiveInteger(config.numHeads, "num_heads");
    this.keyDim = positiveInteger(config.keyDim, "key_dim");
    this.valueDim = config.valueDim == null ? this.keyDim : positiveInteger(config.valueDim, "value_dim");
    this.dropout = Number(config.dropout ?? 0);
    this.useBias = config.useBias !== false;
    this.useCausalMask = config.useCausalMask === true;
    const outputShape = config.outputShape;
    const dims = outputShape == null ? [] : [outputShape].flat();
    if (dims.length > 1)
      throw new Error(
        `MultiHeadAttention's output_shape ${JSON.stringify(outputShape)} has more than one axis; modelbay computes one`,
      );
    this.outputDim = dims.length === 1 ? positiveInteger(dims[0], "output_shape") : undefined;
    const axes = config.attentionAxes == null ? [] : [config.attentionAxes].flat();
    if (axes.length > 1 || (axes.length === 1 && axes[0] !== 1 && axes[0] !== -2)) {
      throw new Error(
        `MultiHeadAttention over attention_axes ${JSON.stringify(config.attentionAxes)}: modelbay attends over the steps of [batch, steps, features] inputs only`,
      );
    }
    if (config.useGate === true) throw new Error("MultiHeadAttention with use_gate is not one modelbay computes");
    if (config.slidingWindow != null)
      throw new Error("MultiHeadAttention with a sliding_window is not one modelbay computes");
    this.parts = denseParts(config);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const [query, value = query, key = value] = shapesOf(inputShape);
    const last = (s: Shape | undefined, what: string) => {
      const dims = s ?? [];
      if (dims.length !== 3) {
        throw new Error(`MultiHeadAttention's ${what} must be [batch, steps, features], got ${JSON.stringify(s)}`);
      }
      return dims[2] as number;
    };
    const [dq, dv, dk] = [last(query, "query"), last(value, "value"), last(key, "key")];
    const project = (name: string, shape: number[], biasShape: number[]): Projection => {
      const p = this.parts;
      const kernel = this.addWeight(
        `${name}/kernel`,
        shape,
        "float32",
        p.kernelInitializer,
        p.kernelRegularizer,
        true,
        p.kernelConstraint,
      );
      const bias = this.useBias
        ? this.addWeight(
            `${name}/bias`,
            biasShape,
            "float32",
            p.biasInitializer,
            p.biasRegularizer,
            true,
            p.biasConstraint,
          )
        : undefined;
      return { kernel, ...(bias ? { bias } : {}) };
    };
    const [h, k, v] = [this.numHeads, this.keyDim, this.valueDim];
    const out = this.outputDim ?? dq;
    // Keras' order: query, key, value, then the output's projection.
    this.projections = {
      query: project("query", [dq, h, k], [h, k]),
      key: project("key", [dk, h, k], [h, k]),
      value: project("value", [dv, h, v], [h, v]),
      output: project("attention_output", [h, v, out], [out]),
    };
    this.built = true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [query] = shapesOf(inputShape);
    return [...(query as Shape).slice(0, -1), this.outputDim ?? ((query as Shape)[2] as number)];
  }

  override computeMask(_inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    // The output keeps the query's mask, as in Keras.
    return firstMask(mask);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      // One input attends to itself (src/compute/keras-attention-calls.ts leaves repeats out).
      const list = [inputs].flat();
      const [query, value = query, key = value] = list as [tf.Tensor, tf.Tensor | undefined, tf.Tensor | undefined];
      if (!query) throw new Error("MultiHeadAttention takes a query and a value (and a key)");
      const p = this.projections;
      if (!p) throw new Error("MultiHeadAttention is not built");
      const steps = query.shape[1] as number;
      const sources = value.shape[1] as number;
      // [batch, heads, steps, dims] for each of query, key and value.
      const heads = (x: tf.Tensor, proj: Projection) => tf.transpose(projectLast(x, proj), [0, 2, 1, 3]);
      const q = tf.mul(heads(query, p.query), 1 / Math.sqrt(this.keyDim));
      const logits = tf.matMul(q, heads(key, p.key), false, true);
      const mask = this.attentionMask(kwargs.mask, list, steps, sources);
      const masked = mask ? tf.where(mask, logits, tf.fill(logits.shape, LARGE_NEGATIVE)) : logits;
      let scores = tf.softmax(masked, -1);
      if (this.dropout > 0) {
        // Keras' Softmax layer, which it takes with dropout, zeroes the masked scores after it.
        if (mask) scores = tf.where(mask, scores, tf.zerosLike(scores));
        if (kwargs.training === true) scores = tf.dropout(scores, this.dropout);
      }
      // [batch, steps, heads, value dims] -> [batch, steps, out].
      const attended = tf.transpose(tf.matMul(scores, heads(value, p.value)), [0, 2, 1, 3]);
      return projectLast(attended, p.output, 2);
    });
  }

  /** Which logits [batch, heads, steps, sources] attend, or undefined for all. */
  private attentionMask(given: unknown, inputs: tf.Tensor[], steps: number, sources: number): tf.Tensor | undefined {
    const masks = masksOf(given);
    const queryMask = masks[0] ?? undefined;
    // A value (or key) that is the query's tensor has the query's mask.
    const sameAsQuery = (i: number) => inputs[i] === undefined || inputs[i] === inputs[0];
    const valueMask = masks[1] ?? (sameAsQuery(1) ? queryMask : undefined);
    const keyMask = inputs[2] === undefined ? undefined : (masks[2] ?? (sameAsQuery(2) ? queryMask : undefined));
    let mask: tf.Tensor | undefined;
    const and = (m: tf.Tensor) => {
      mask = mask ? tf.logicalAnd(mask, m) : m;
    };
    const bool = (m: tf.Tensor) => tf.cast(m, "bool");
    if (queryMask) and(tf.reshape(bool(queryMask), [-1, 1, steps, 1]));
    if (valueMask) and(tf.reshape(bool(valueMask), [-1, 1, 1, sources]));
    if (keyMask) and(tf.reshape(bool(keyMask), [-1, 1, 1, sources]));
    if (this.useCausalMask) and(tf.reshape(causalMask(steps, sources), [1, 1, steps, sources]));
    if (!mask) return undefined;
    return tf.broadcastTo(mask, [inputs[0]?.shape[0] as number, this.numHeads, steps, sources]);
  }

  override getConfig(): Config {
    // As it came, with the call's use_causal_mask, so that a TensorFlow.js export builds the same.
    return { ...super.getConfig(), ...this.config };
  }
}

/**
 * Whether a tensor of a built model may carry a mask as TensorFlow.js passes them: one an Embedding
 * with `mask_zero` or a Masking layer makes, kept by the layers that support masking (a recurrent
 * layer only with its sequences, a pooling never).
 */
function mayCarryMask(tensor: tf.SymbolicTensor, seen = new Map<tf.SymbolicTensor, boolean>()): boolean {
  const known = seen.get(tensor);
  if (known !== undefined) return known;
  seen.set(tensor, false);
  const layer = tensor.sourceLayer as tf.layers.Layer & Record<string, unknown>;
  const className = layer.getClassName();
  let carries: boolean;
  if (className === "Embedding") carries = layer.maskZero === true;
  else if (className === "Masking") carries = true;
  else if (!layer.supportsMasking || (layer instanceof tf.RNN && layer.returnSequences !== true)) carries = false;
  else carries = (layer.inboundNodes[tensor.nodeIndex]?.inputTensors ?? []).some((t) => mayCarryMask(t, seen));
  seen.set(tensor, carries);
  return carries;
}

/**
 * Refuses a model whose attention layer attends to a masked value (or key) other than its query:
 * TensorFlow.js hands a layer the mask of its first input only, so that mask would not be applied.
 */
export function checkAttentionMasks(model: tf.LayersModel): void {
  for (const layer of model.layers) {
    if (layer instanceof tf.LayersModel) checkAttentionMasks(layer);
    if (!KERAS_ATTENTION_CLASSES.has(layer.getClassName())) continue;
    for (const node of layer.inboundNodes) {
      const [query, ...others] = node.inputTensors;
      const masked = others.find((t) => t !== query && mayCarryMask(t));
      if (masked) {
        throw new Error(
          `${layer.getClassName()} "${layer.name}" attends to a masked tensor of "${masked.sourceLayer.name}" other than its query; modelbay applies the query's mask only`,
        );
      }
    }
  }
}

/** [steps, sources]: step t attends to sources 0..t. */
export function causalMask(steps: number, sources: number): tf.Tensor {
  return tf.greaterEqual(
    tf.reshape(tf.range(0, steps, 1, "int32"), [steps, 1]),
    tf.reshape(tf.range(0, sources, 1, "int32"), [1, sources]),
  );
}

/**
 * x [..., ...in] through a kernel [...in, ...out] and a bias [...out]: [..., ...out], where `in`
 * is x's last `inAxes` axes (Keras' EinsumDense of these projections).
 */
function projectLast(x: tf.Tensor, { kernel, bias }: Projection, inAxes = 1): tf.Tensor {
  const size = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
  const inShape = kernel.shape.slice(0, inAxes) as number[];
  const outShape = kernel.shape.slice(inAxes) as number[];
  const flat = tf.matMul(
    tf.reshape(x, [-1, size(inShape)]),
    tf.reshape(kernel.read(), [size(inShape), size(outShape)]),
  );
  const shaped = tf.reshape(flat, [...x.shape.slice(0, -inAxes), ...outShape]);
  return bias ? tf.add(shaped, bias.read()) : shaped;
}

function positiveInteger(v: unknown, what: string): number {
  const n = Array.isArray(v) && v.length === 1 ? v[0] : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n <= 0) {
    throw new Error(`MultiHeadAttention's ${what} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return n;
}

tf.serialization.registerClass(MultiHeadAttention);
