/**
 * Keras' Attention (Luong's dot-product, or "concat" scores) and AdditiveAttention (Bahdanau's),
 * which TensorFlow.js lacks: the attention of Keras' sequence-to-sequence recipes. Called on
 * [query, value] or [query, value, key] of [batch, steps, features]; the scores are softmaxed over
 * the value's steps, masked by the value's mask (the query's, when they are one tensor) and by
 * `use_causal_mask` (which src/compute/keras-attention-calls.ts puts in the config), and the
 * output is zero where the query is masked, as in Keras 3. Weights: `scale`, then Attention's
 * `concat_score_weight`, in Keras' order.
 */
import * as tf from "@tensorflow/tfjs";
import { causalMask } from "./keras-attention.js";
import { firstMask, masksOf, type Shape, shapesOf } from "./layer-inputs.js";

type Config = tf.serialization.ConfigDict;
type Kwargs = Record<string, unknown>;

/** Subtracted from the scores of masked steps, as Keras does. */
const MASKED_OFFSET = 1e9;

abstract class ScoredAttention extends tf.layers.Layer {
  protected readonly useScale: boolean;
  private readonly dropout: number;
  private readonly useCausalMask: boolean;
  private readonly config: Config;

  constructor(config: Config, scaleByDefault: boolean) {
    super(config);
    this.config = config;
    this.supportsMasking = true;
    this.useScale = config.useScale == null ? scaleByDefault : config.useScale === true;
    this.dropout = Number(config.dropout ?? 0);
    this.useCausalMask = config.useCausalMask === true;
  }

  /**
   * The query's shape, once every input is [batch, steps, features]: on rows alone the scores would
   * mix the rows of a batch, and with them the requests batched together.
   */
  protected queryShape(inputShape: tf.Shape | tf.Shape[]): Shape {
    const shapes = shapesOf(inputShape);
    const wrong = shapes.find((shape) => shape.length !== 3);
    if (wrong) {
      throw new Error(`${this.getClassName()} takes [batch, steps, features] inputs, got ${JSON.stringify(wrong)}`);
    }
    return shapes[0] as Shape;
  }

  /** [batch, query steps, value steps] from query [batch, Tq, dim] and key [batch, Tv, dim]. */
  protected abstract scores(query: tf.Tensor, key: tf.Tensor): tf.Tensor;

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const [query, value = query] = shapesOf(inputShape);
    return [...(query as Shape).slice(0, -1), (value as Shape).at(-1) ?? null];
  }

  override computeMask(_inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
    // The query's, as in Keras.
    return firstMask(mask);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      // One input attends to itself (src/compute/keras-attention-calls.ts leaves repeats out).
      const list = [inputs].flat();
      const [query, value = query, key = value] = list as [tf.Tensor, tf.Tensor?, tf.Tensor?];
      if (!query || !value || !key)
        throw new Error(`${this.getClassName()} takes [query, value] or [query, value, key]`);
      const masks = masksOf(kwargs.mask);
      const queryMask = masks[0] ?? undefined;
      const valueMask = masks[1] ?? (value === query ? queryMask : undefined);
      let scores = this.scores(query, key);
      const [tq, tv] = scores.shape.slice(1) as [number, number];
      let kept: tf.Tensor | undefined = valueMask ? tf.expandDims(tf.cast(valueMask, "bool"), 1) : undefined;
      if (this.useCausalMask) {
        const causal = tf.expandDims(causalMask(tq, tv), 0);
        kept = kept ? tf.logicalAnd(kept, causal) : causal;
      }
      if (kept) scores = tf.where(tf.broadcastTo(kept, scores.shape), scores, tf.sub(scores, MASKED_OFFSET));
      let weights = tf.softmax(scores, -1);
      if (kwargs.training === true && this.dropout > 0) weights = tf.dropout(weights, this.dropout);
      const attended = tf.matMul(weights, value);
      if (!queryMask) return attended;
      const queryKept = tf.broadcastTo(tf.expandDims(tf.cast(queryMask, "bool"), -1), attended.shape);
      return tf.where(queryKept, attended, tf.zerosLike(attended));
    });
  }

  override getConfig(): Config {
    return { ...super.getConfig(), ...this.config };
  }
}

/** Keras' Attention: query · key (times `scale`), or with score_mode "concat" w·Σ tanh(scale·(q + k)). */
export class Attention extends ScoredAttention {
  static readonly className = "Attention";
  private readonly concat: boolean;
  private scale?: tf.LayerVariable;
  private concatScoreWeight?: tf.LayerVariable;

  constructor(config: Config) {
    super(config, false);
    const mode = config.scoreMode ?? "dot";
    if (mode !== "dot" && mode !== "concat")
      throw new Error(`Attention's score_mode is "dot" or "concat", got ${JSON.stringify(mode)}`);
    this.concat = mode === "concat";
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    this.queryShape(inputShape);
    if (this.useScale) this.scale = this.addWeight("scale", [], "float32", tf.initializers.ones(), undefined, true);
    if (this.concat) {
      this.concatScoreWeight = this.addWeight(
        "concat_score_weight",
        [],
        "float32",
        tf.initializers.ones(),
        undefined,
        true,
      );
    }
    this.built = true;
  }

  protected scores(query: tf.Tensor, key: tf.Tensor): tf.Tensor {
    if (!this.concat) {
      const dot = tf.matMul(query, key, false, true);
      return this.scale ? tf.mul(dot, this.scale.read()) : dot;
    }
    const sum = tf.add(tf.expandDims(query, -2), tf.expandDims(key, -3));
    const scaled = this.scale ? tf.mul(this.scale.read(), sum) : sum;
    return tf.mul(this.concatScoreWeight?.read() ?? 1, tf.sum(tf.tanh(scaled), -1));
  }
}

/** Keras' AdditiveAttention: Σ scale · tanh(q + k) over the features, `scale` one per feature. */
export class AdditiveAttention extends ScoredAttention {
  static readonly className = "AdditiveAttention";
  private scale?: tf.LayerVariable;

  constructor(config: Config) {
    super(config, true);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const dim = this.queryShape(inputShape).at(-1) as number;
    if (this.useScale)
      this.scale = this.addWeight("scale", [dim], "float32", tf.initializers.glorotUniform({}), undefined, true);
    this.built = true;
  }

  protected scores(query: tf.Tensor, key: tf.Tensor): tf.Tensor {
    const tanh = tf.tanh(tf.add(tf.expandDims(query, -2), tf.expandDims(key, -3)));
    return tf.sum(this.scale ? tf.mul(this.scale.read(), tanh) : tanh, -1);
  }
}

tf.serialization.registerClass(Attention);
tf.serialization.registerClass(AdditiveAttention);
