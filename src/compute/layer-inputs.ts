// What TensorFlow.js hands a layer: one tensor or a list, one input shape or a list of them, one
// mask or a list (or none). The Keras layers modelbay adds read them through these.
import type * as tf from "@tensorflow/tfjs";

/** A declared shape: null for a free axis. */
export type Shape = (number | null)[];

/** The first (or only) input. */
export const single = (inputs: tf.Tensor | tf.Tensor[]): tf.Tensor =>
  Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;

/** Every input's shape, in order. */
export const shapesOf = (inputShape: tf.Shape | tf.Shape[]): Shape[] =>
  (Array.isArray(inputShape[0]) ? inputShape : [inputShape]) as Shape[];

/** The first (or only) input's shape. */
export const firstShape = (inputShape: tf.Shape | tf.Shape[]): Shape => shapesOf(inputShape)[0] as Shape;

/** Every input's mask, in order (null for none). */
export const masksOf = (mask: unknown): (tf.Tensor | null)[] =>
  (Array.isArray(mask) ? mask : [mask]).map((m) => (m ?? null) as tf.Tensor | null);

/** The first input's mask as a layer's computeMask returns it: TensorFlow.js takes null for none. */
export const firstMask = (mask: unknown): tf.Tensor => masksOf(mask)[0] as tf.Tensor;
