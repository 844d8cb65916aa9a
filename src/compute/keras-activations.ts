/**
 * Keras 3's activation functions that TensorFlow.js lacks, registered in its deserializer under
 * the names its Keras reader gives them ("leaky_relu" -> "leakyRelu"), so that a Keras model
 * using them builds and trains here instead of being refused as "Unknown activation".
 *
 * Keras 3 also changed `hard_sigmoid` (relu6(x + 3) / 6, where Keras 2 and TensorFlow.js use
 * 0.2x + 0.5): a Keras 3 topology names it KERAS3_HARD_SIGMOID (src/compute/keras3-topology.ts).
 * Each takes Keras' defaults, which are all a string activation can carry.
 */
import * as tf from "@tensorflow/tfjs";

import { KERAS3_HARD_SIGMOID } from "./keras3-topology.js";

/** Keras 3's hard_sigmoid: relu6(x + 3) / 6. */
export const hardSigmoid = (x: tf.Tensor) => tf.div(tf.relu6(tf.add(x, 3)), 6);
const between = (x: tf.Tensor, low: number, high: number, below: tf.Tensor, inside: tf.Tensor, above: tf.Tensor) =>
  tf.where(tf.lessEqual(x, low), below, tf.where(tf.greaterEqual(x, high), above, inside));

const FUNCTIONS: Record<string, (x: tf.Tensor) => tf.Tensor> = {
  [KERAS3_HARD_SIGMOID]: hardSigmoid,
  silu: (x) => tf.mul(x, tf.sigmoid(x)),
  hardSilu: (x) => tf.mul(x, hardSigmoid(x)),
  leakyRelu: (x) => tf.leakyRelu(x, 0.2),
  exponential: (x) => tf.exp(x),
  celu: (x) => tf.add(tf.relu(x), tf.minimum(0, tf.sub(tf.exp(x), 1))),
  logSigmoid: (x) => tf.logSigmoid(x),
  hardTanh: (x) => tf.clipByValue(x, -1, 1),
  hardShrink: (x) => tf.where(tf.greater(tf.abs(x), 0.5), x, tf.zerosLike(x)),
  softShrink: (x) =>
    tf.where(tf.greater(x, 0.5), tf.sub(x, 0.5), tf.where(tf.less(x, -0.5), tf.add(x, 0.5), tf.zerosLike(x))),
  tanhShrink: (x) => tf.sub(x, tf.tanh(x)),
  squareplus: (x) => tf.div(tf.add(x, tf.sqrt(tf.add(tf.square(x), 4))), 2),
  sparsePlus: (x) => between(x, -1, 1, tf.zerosLike(x), tf.div(tf.square(tf.add(x, 1)), 4), x),
  sparseSigmoid: (x) => between(x, -1, 1, tf.zerosLike(x), tf.mul(tf.add(x, 1), 0.5), tf.onesLike(x)),
};

/** TensorFlow.js' own activations, as Keras spells them (its "hard_sigmoid" is Keras 2's). */
const TFJS_ACTIVATIONS = [
  "elu",
  "gelu",
  "gelu_new",
  "hard_sigmoid",
  "linear",
  "log_softmax",
  "mish",
  "relu",
  "relu6",
  "selu",
  "sigmoid",
  "softmax",
  "softplus",
  "softsign",
  "swish",
  "tanh",
];

const snakeCase = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Every activation a Keras topology may name here, as Keras spells it. */
export const KERAS_ACTIVATION_NAMES: readonly string[] = [
  ...new Set([
    ...TFJS_ACTIVATIONS,
    ...Object.keys(FUNCTIONS)
      .filter((n) => n !== KERAS3_HARD_SIGMOID)
      .map(snakeCase),
  ]),
].sort();

/**
 * TensorFlow.js' refusal of a class it does not know ("Unknown activation: sparsemax. This may be
 * due to ... tf.serialization.registerClass()") in words for a modelbay caller, who registers nothing.
 */
export function unknownClassReason(reason: string): string {
  const unknown = /^Unknown (\w+): ([\w>]+)\. This may be due to/.exec(reason);
  if (!unknown) return reason;
  const [, kind, name] = unknown as unknown as [string, string, string];
  if (kind === "activation") {
    return `activation "${snakeCase(name)}" is not one modelbay computes; it computes ${KERAS_ACTIVATION_NAMES.join(", ")}`;
  }
  return `${kind} "${name}" is not one modelbay (TensorFlow.js ${tf.version.tfjs}) builds`;
}

for (const [name, fn] of Object.entries(FUNCTIONS)) {
  // TensorFlow.js' layers call `apply` and serialize by class name; nothing else is asked of one.
  const activation = class extends tf.serialization.Serializable {
    static readonly className = name;
    apply(x: tf.Tensor): tf.Tensor {
      return tf.tidy(() => fn(x));
    }
    getConfig(): tf.serialization.ConfigDict {
      return {};
    }
  };
  tf.serialization.registerClass(activation);
}
