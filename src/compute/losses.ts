// Losses and metrics with Keras semantics (probabilities, not logits, for the crossentropies;
// predictions clipped to [eps, 1 - eps]), so that losses reported here compare with Keras'.
import * as tf from "@tensorflow/tfjs";
import type { LossKind, MetricKind } from "./model-spec.js";

const EPSILON = 1e-7;

function sparseToOneHot(labels: tf.Tensor, classes: number): tf.Tensor {
  return tf.oneHot(labels.reshape([-1]).toInt(), classes).toFloat();
}

function categorical(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar {
  const p = yPred.div(yPred.sum(-1, true)).clipByValue(EPSILON, 1 - EPSILON);
  return yTrue.mul(p.log()).sum(-1).neg().mean() as tf.Scalar;
}

/** The loss as a scalar: the mean over the batch. */
export function computeLoss(kind: LossKind, yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar {
  switch (kind) {
    case "mean_squared_error":
      return yTrue.sub(yPred).square().mean() as tf.Scalar;
    case "mean_absolute_error":
      return yTrue.sub(yPred).abs().mean() as tf.Scalar;
    case "binary_crossentropy": {
      const p = yPred.clipByValue(EPSILON, 1 - EPSILON);
      return yTrue
        .mul(p.log())
        .add(tf.scalar(1).sub(yTrue).mul(tf.scalar(1).sub(p).log()))
        .neg()
        .mean() as tf.Scalar;
    }
    case "categorical_crossentropy":
      return categorical(yTrue, yPred);
    case "sparse_categorical_crossentropy":
      return categorical(sparseToOneHot(yTrue, yPred.shape[yPred.shape.length - 1] ?? 1), yPred);
  }
}

/** Metric names as reported in events (Keras' short names). */
export const METRIC_NAME: Record<MetricKind, string> = {
  mean_absolute_error: "mae",
  mean_squared_error: "mse",
  accuracy: "accuracy",
};

export function computeMetric(kind: MetricKind, loss: LossKind, yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar {
  switch (kind) {
    case "mean_absolute_error":
    case "mean_squared_error":
      return computeLoss(kind, yTrue, yPred);
    case "accuracy": {
      if (loss === "sparse_categorical_crossentropy") {
        return yPred
          .argMax(-1)
          .equal(yTrue.reshape([-1]).toInt())
          .toFloat()
          .mean() as tf.Scalar;
      }
      if (loss === "categorical_crossentropy") {
        return yPred.argMax(-1).equal(yTrue.argMax(-1)).toFloat().mean() as tf.Scalar;
      }
      return yPred.greater(0.5).toFloat().equal(yTrue).toFloat().mean() as tf.Scalar;
    }
  }
}
