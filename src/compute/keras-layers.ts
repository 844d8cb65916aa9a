/**
 * Keras layers TensorFlow.js lacks, registered in its deserializer under Keras' class names so that
 * a Keras model holding them builds, predicts and trains here: Normalization (the feature scaling
 * of TensorFlow's regression tutorials, with the statistics `adapt` found), Subtract and
 * UnitNormalization. Each computes as Keras 3 does (test/keras3-models.test.ts compares them).
 */
import * as tf from "@tensorflow/tfjs";

type Kwargs = Record<string, unknown>;
type Config = tf.serialization.ConfigDict;
type Shape = (number | null)[];

const single = (inputs: tf.Tensor | tf.Tensor[]) => (Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs);
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
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
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

/** The first input less the second. */
export class Subtract extends tf.layers.Layer {
  static readonly className = "Subtract";

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
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

for (const layer of [Normalization, Subtract, UnitNormalization]) tf.serialization.registerClass(layer);
