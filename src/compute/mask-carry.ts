// Keras masks (an Embedding's `mask_zero`) reach only the layers Keras gives them to. TensorFlow.js'
// executor, which runs every predict and training step, puts a layer's input mask into one keyword
// object it shares across the whole pass and never takes it out: once a layer had a mask, every
// later layer got that mask too, even where Keras drops it (after a Conv1D, say). A layer that uses
// masks (an LSTM, the mean of GlobalAveragePooling1D, attention) then skipped steps Keras keeps.
// Each layer's call now leaves the shared object without the mask; the executor sets it again for
// the next layer whose input has one.
import * as tf from "@tensorflow/tfjs";

type Apply = tf.layers.Layer["apply"];

const apply: Apply = tf.layers.Layer.prototype.apply;

tf.layers.Layer.prototype.apply = function applyWithoutCarriedMask(
  this: tf.layers.Layer,
  ...args: Parameters<Apply>
): ReturnType<Apply> {
  const kwargs = args[1] as Record<string, unknown> | undefined;
  try {
    return apply.apply(this, args);
  } finally {
    if (kwargs && "mask" in kwargs) delete kwargs.mask;
  }
};
