// The mask a merge of masked sequences (an Embedding's `mask_zero`) passes on, as Keras computes it.
// TensorFlow.js' Add, Multiply, Average, Maximum and Minimum give a mask with an extra leading axis
// and leave the last input's mask out of it; Keras 2 takes the steps every masked input keeps (AND),
// Keras 3 those any input keeps (OR), and no mask once an input has none. Concatenate: Keras 2 and
// TensorFlow.js keep a step every input keeps, Keras 3 one that any keeps. A topology Keras 3 wrote
// carries `mask_merge: "or"` on these layers (src/compute/keras3-topology.ts); others take Keras 2's.
import * as tf from "@tensorflow/tfjs";
import { Subtract } from "./keras-layers.js";
import { KERAS_MERGE_CLASSES } from "./keras3-topology.js";
import { masksOf } from "./layer-inputs.js";

type Config = tf.serialization.ConfigDict;
type LayerClass = new (config: Config) => tf.layers.Layer;

const stock: Record<(typeof KERAS_MERGE_CLASSES)[number], LayerClass> = {
  Add: tf.layers.add({}).constructor as LayerClass,
  Multiply: tf.layers.multiply({}).constructor as LayerClass,
  Average: tf.layers.average({}).constructor as LayerClass,
  Maximum: tf.layers.maximum({}).constructor as LayerClass,
  Minimum: tf.layers.minimum({}).constructor as LayerClass,
  Subtract: Subtract as unknown as LayerClass,
  Concatenate: tf.layers.concatenate({}).constructor as LayerClass,
};

/** Keras 2's rule (AND of the masks given) or Keras 3's (OR, none once one is missing). */
function elementwiseMask(masks: (tf.Tensor | null | undefined)[], keras3: boolean): tf.Tensor | null {
  const given = masks.filter((m): m is tf.Tensor => m != null);
  if (given.length === 0 || (keras3 && given.length < masks.length)) return null;
  return given.map((m) => tf.cast(m, "bool")).reduce((a, b) => (keras3 ? tf.logicalOr(a, b) : tf.logicalAnd(a, b)));
}

/** Keras' Concatenate mask: each input's mask (all kept where it has none) joined, then per step. */
function concatenatedMask(
  inputs: tf.Tensor[],
  masks: (tf.Tensor | null | undefined)[],
  axis: number,
  keras3: boolean,
): tf.Tensor | null {
  if (masks.every((m) => m == null)) return null;
  const full = inputs.map((x, i) => {
    const m = masks[i];
    if (m == null) return tf.onesLike(x).cast("bool");
    const bool = tf.cast(m, "bool");
    return bool.rank < x.rank ? tf.broadcastTo(tf.expandDims(bool, -1), x.shape) : bool;
  });
  const joined = tf.concat(full, axis);
  return keras3 ? tf.any(joined, -1) : tf.all(joined, -1);
}

for (const className of KERAS_MERGE_CLASSES) {
  const Base = stock[className];
  class KerasMaskMerge extends Base {
    static readonly className = className;
    private readonly maskMerge: string;

    constructor(config: Config) {
      super(config);
      this.supportsMasking = true;
      this.maskMerge = config.maskMerge === "or" ? "or" : "and";
    }

    /** TensorFlow.js takes null for no mask. */
    override computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[]): tf.Tensor {
      if (mask == null) return null as unknown as tf.Tensor;
      const masks = masksOf(mask);
      const keras3 = this.maskMerge === "or";
      const axis = (this as unknown as { axis: number }).axis;
      // In a list, which the tidy keeps whether it holds the mask or nothing.
      const [merged] = tf.tidy(() => {
        const m =
          className === "Concatenate"
            ? concatenatedMask([inputs].flat(), masks, axis, keras3)
            : elementwiseMask(masks, keras3);
        return m ? [m] : [];
      });
      return (merged ?? null) as tf.Tensor;
    }

    override getConfig(): Config {
      return { ...super.getConfig(), ...(this.maskMerge === "or" ? { maskMerge: "or" } : {}) };
    }
  }
  tf.serialization.registerClass(
    KerasMaskMerge as unknown as tf.serialization.SerializableConstructor<tf.layers.Layer>,
  );
}
