/**
 * Keras layers TensorFlow.js lacks, registered in its deserializer under Keras' class names so that
 * a Keras model holding them builds, predicts and trains here: Normalization (the feature scaling
 * of TensorFlow's regression tutorials, with the statistics `adapt` found), Subtract,
 * UnitNormalization and GroupNormalization; and the 1D global poolings in place of TensorFlow.js'
 * own, which read neither `data_format` nor `keepdims` and average over masked steps. Each
 * computes as Keras 3 does (test/keras3-models.test.ts compares them).
 */
import * as tf from "@tensorflow/tfjs";
import { firstShape, single } from "./layer-inputs.js";

type Kwargs = Record<string, unknown>;
type Config = tf.serialization.ConfigDict;
const axesOf = (axis: unknown, rank: number): number[] =>
  (Array.isArray(axis) ? axis : axis == null ? [] : [axis]).map((a) => {
    const n = Number(a);
    return n < 0 ? rank + n : n;
  });

const flatNumbers = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flatNumbers) : [Number(v)]);

/** Keras' epsilon, below which a standard deviation does not divide. */
const EPSILON = 1e-7;

/**
 * (x - mean) / max(sqrt(variance), 1e-7) per feature of the kept axes (or its inverse), the mean
 * and variance given in the config or adapted in Python and saved as the layer's weights.
 */
export class Normalization extends tf.layers.Layer {
  static readonly className = "Normalization";
  private readonly axis: unknown;
  private readonly invert: boolean;
  private readonly givenMean: number[] | undefined;
  private readonly givenVariance: number[] | undefined;
  private mean?: tf.LayerVariable;
  private variance?: tf.LayerVariable;

  constructor(config: Config) {
    super(config);
    this.axis = config.axis ?? [-1];
    this.invert = config.invert === true;
    this.givenMean = config.mean == null ? undefined : flatNumbers(config.mean);
    this.givenVariance = config.variance == null ? undefined : flatNumbers(config.variance);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = firstShape(inputShape);
    if (this.givenMean === undefined) {
      const kept = axesOf(this.axis, shape.length).map((a) => shape[a] as number);
      this.mean = this.addWeight("mean", kept, "float32", tf.initializers.zeros(), undefined, false);
      this.variance = this.addWeight("variance", kept, "float32", tf.initializers.ones(), undefined, false);
      this.addWeight("count", [], "int32", tf.initializers.zeros(), undefined, false);
    }
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs);
      const kept = axesOf(this.axis, x.rank);
      const broadcast = x.shape.map((d, i) => (kept.includes(i) ? d : 1));
      // Given statistics may be one number for every feature.
      const statistic = (adapted: tf.LayerVariable | undefined, given: number[]) =>
        adapted
          ? tf.reshape(adapted.read(), broadcast)
          : given.length === 1
            ? tf.scalar(given[0] as number)
            : tf.reshape(tf.tensor(given), broadcast);
      const mean = statistic(this.mean, this.givenMean ?? []);
      const variance = statistic(this.variance, this.givenVariance ?? []);
      const scale = tf.maximum(tf.sqrt(variance), EPSILON);
      return this.invert ? tf.add(mean, tf.mul(x, scale)) : tf.div(tf.sub(x, mean), scale);
    });
  }

  override getConfig(): Config {
    return {
      ...super.getConfig(),
      axis: this.axis as tf.serialization.ConfigDictValue,
      invert: this.invert,
      mean: this.givenMean ?? null,
      variance: this.givenVariance ?? null,
    };
  }
}

/**
 * Its input, as a tensor of its own (Keras' Identity; src/compute/keras3-topology.ts also adds one
 * where a call takes a tensor twice).
 */
export class Identity extends tf.layers.Layer {
  static readonly className = "Identity";

  constructor(config: Config) {
    super(config);
    this.supportsMasking = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.clone(single(inputs));
  }
}

/** The first input less the second. */
export class Subtract extends tf.layers.Layer {
  static readonly className = "Subtract";

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return firstShape(inputShape) as tf.Shape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    if (!Array.isArray(inputs) || inputs.length !== 2) {
      throw new Error(`Subtract takes exactly 2 inputs, got ${[inputs].flat().length}`);
    }
    return tf.sub(inputs[0] as tf.Tensor, inputs[1] as tf.Tensor);
  }
}

/** x / max(||x||, 1e-12) along the axes. */
export class UnitNormalization extends tf.layers.Layer {
  static readonly className = "UnitNormalization";
  private readonly axis: unknown;

  constructor(config: Config) {
    super(config);
    this.axis = config.axis ?? -1;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs?: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs);
      const norm = tf.sqrt(tf.sum(tf.square(x), axesOf(this.axis, x.rank), true));
      return tf.div(x, tf.maximum(norm, 1e-12));
    });
  }

  override getConfig(): Config {
    return { ...super.getConfig(), axis: this.axis as tf.serialization.ConfigDictValue };
  }
}

/**
 * (x - mean) / sqrt(variance + epsilon) over each group of channels (and every other axis but the
 * batch), then scaled and shifted per channel: gamma, beta, in Keras' order.
 */
export class GroupNormalization extends tf.layers.Layer {
  static readonly className = "GroupNormalization";
  private readonly groups: number;
  private readonly axis: number;
  private readonly epsilon: number;
  private readonly center: boolean;
  private readonly scale: boolean;
  private readonly config: Config;
  private gamma?: tf.LayerVariable;
  private beta?: tf.LayerVariable;

  constructor(config: Config) {
    super(config);
    this.config = config;
    this.supportsMasking = true;
    this.groups = Number(config.groups ?? 32);
    this.axis = Number(config.axis ?? -1);
    this.epsilon = Number(config.epsilon ?? 1e-3);
    this.center = config.center !== false;
    this.scale = config.scale !== false;
  }

  private channelAxis(rank: number): number {
    return this.axis < 0 ? rank + this.axis : this.axis;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = firstShape(inputShape);
    const channels = shape[this.channelAxis(shape.length)];
    if (typeof channels !== "number" || !(this.groups > 0) || channels % this.groups !== 0) {
      throw new Error(`GroupNormalization: ${channels} channels do not split into ${this.groups} groups`);
    }
    // TensorFlow.js' own reading of the initializers, as its LayerNormalization does.
    const parts = tf.layers.layerNormalization({
      gammaInitializer: this.config.gammaInitializer as never,
      betaInitializer: this.config.betaInitializer as never,
      gammaRegularizer: this.config.gammaRegularizer as never,
      betaRegularizer: this.config.betaRegularizer as never,
    }) as unknown as Record<string, never>;
    if (this.scale)
      this.gamma = this.addWeight("gamma", [channels], "float32", parts.gammaInitializer, parts.gammaRegularizer, true);
    if (this.center)
      this.beta = this.addWeight("beta", [channels], "float32", parts.betaInitializer, parts.betaRegularizer, true);
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs);
      const axis = this.channelAxis(x.rank);
      const channels = x.shape[axis] as number;
      // [..., groups, channels per group, ...]: statistics over all but the batch and the group.
      const grouped = [...x.shape.slice(0, axis), this.groups, channels / this.groups, ...x.shape.slice(axis + 1)];
      const g = tf.reshape(x, grouped);
      const reduced = grouped.map((_, i) => i).filter((i) => i !== 0 && i !== axis);
      const { mean, variance } = tf.moments(g, reduced, true);
      const normalized = tf.reshape(tf.div(tf.sub(g, mean), tf.sqrt(tf.add(variance, this.epsilon))), x.shape);
      const perChannel = x.shape.map((d, i) => (i === axis ? d : 1));
      const scaled = this.gamma ? tf.mul(normalized, tf.reshape(this.gamma.read(), perChannel)) : normalized;
      return this.beta ? tf.add(scaled, tf.reshape(this.beta.read(), perChannel)) : scaled;
    });
  }

  override getConfig(): Config {
    return { ...super.getConfig(), ...this.config };
  }
}

/** Keras' 1D global poolings: over the steps axis that `data_format` names, kept with `keepdims`. */
abstract class GlobalPooling1D extends tf.layers.Layer {
  protected readonly stepsAxis: number;
  protected readonly keepdims: boolean;
  private readonly config: Config;

  constructor(config: Config) {
    super(config);
    this.config = config;
    this.stepsAxis = config.dataFormat === "channels_first" ? 2 : 1;
    this.keepdims = config.keepdims === true;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = firstShape(inputShape);
    return this.keepdims
      ? shape.map((d, i) => (i === this.stepsAxis ? 1 : d))
      : shape.filter((_, i) => i !== this.stepsAxis);
  }

  override getConfig(): Config {
    return { ...super.getConfig(), ...this.config };
  }
}

/** The mean over the steps; with a mask (an Embedding's `mask_zero`), over the unmasked steps only. */
export class GlobalAveragePooling1D extends GlobalPooling1D {
  static readonly className = "GlobalAveragePooling1D";

  constructor(config: Config) {
    super(config);
    this.supportsMasking = true;
  }

  /** Keras' pooled output has no mask (TensorFlow.js takes null for none). */
  override computeMask(): tf.Tensor {
    return null as unknown as tf.Tensor;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs?: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs);
      const mask = kwargs?.mask as tf.Tensor | undefined;
      if (!mask) return tf.mean(x, this.stepsAxis, this.keepdims);
      const kept = tf.expandDims(tf.cast(mask, "bool"), this.stepsAxis === 1 ? 2 : 1);
      const sum = tf.sum(tf.where(tf.broadcastTo(kept, x.shape), x, tf.zerosLike(x)), this.stepsAxis, this.keepdims);
      return tf.div(sum, tf.sum(tf.cast(kept, x.dtype), this.stepsAxis, this.keepdims));
    });
  }
}

/** The maximum over the steps (Keras' takes no mask). */
export class GlobalMaxPooling1D extends GlobalPooling1D {
  static readonly className = "GlobalMaxPooling1D";

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.max(single(inputs), this.stepsAxis, this.keepdims));
  }
}

for (const layer of [
  Identity,
  Normalization,
  Subtract,
  UnitNormalization,
  GroupNormalization,
  GlobalAveragePooling1D,
  GlobalMaxPooling1D,
]) {
  tf.serialization.registerClass(layer);
}
