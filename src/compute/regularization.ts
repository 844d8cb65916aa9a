// Keras semantics for the regularizers and constraints a Keras JSON topology declares. Keras adds
// every layer's regularization penalty to the loss it minimizes (and reports), and projects each
// constrained weight back after every update. TensorFlow.js keeps the penalties on the layers (a
// model's own list is empty, so its fit() leaves them out) and applies constraints only when
// weights are set, so the training step here does both itself.
import * as tf from "@tensorflow/tfjs";
import { everyLayer } from "./layer-tree.js";

/** `loss` plus the penalties of the model's regularizers, as Keras minimizes and reports it. */
export function withPenalties(model: tf.LayersModel, loss: tf.Scalar): tf.Scalar {
  return everyLayer(model)
    .flatMap((layer) => layer.calculateLosses())
    .reduce<tf.Scalar>((total, penalty) => total.add(penalty), loss);
}

/** Whether any layer declares a regularizer (its penalty is part of the loss). */
export function hasPenalties(model: tf.LayersModel): boolean {
  return everyLayer(model).some((layer) => layer.losses.length > 0);
}

/** Projects each constrained trainable weight back into its constraint, as Keras does after an update. */
export function applyConstraints(model: tf.LayersModel): void {
  for (const weight of model.trainableWeights) {
    const { constraint } = weight;
    if (!constraint) continue;
    const variable = weight.read() as tf.Variable;
    tf.tidy(() => variable.assign(constraint.apply(variable)));
  }
}

/** Whether any trainable weight has a constraint. */
export function hasConstraints(model: tf.LayersModel): boolean {
  return model.trainableWeights.some((weight) => weight.constraint);
}
