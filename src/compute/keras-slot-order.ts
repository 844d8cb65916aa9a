// Keras' Adam slots in TensorFlow.js' order. Keras keeps m and v per trainable variable, the
// variables layer by layer in its config's order, each layer's trainable ones first; TensorFlow.js
// keeps every m, then every v, in the order of model.trainableWeights, which follows its own order of
// layers. Which variables are trainable (not batch normalization's moving statistics, nothing of a
// frozen layer) is the built model's to say, so this runs on the device once the model is built.
import type * as tf from "@tensorflow/tfjs";
import { Code, ModelbayError } from "../errors.js";
import { KERAS_ORDERED_SLOT, type NamedTensorData } from "./engine.js";
import { weightNamings } from "./layer-tree.js";

const isKerasOrdered = (w: NamedTensorData) => w.name.startsWith(KERAS_ORDERED_SLOT);

/**
 * `state` as the model's optimizer takes it, when its slots are in Keras' order (see
 * KERAS_ORDERED_SLOT): `kerasWeights` are the names of the weights, by layer path (a .keras file's
 * or a TensorFlow checkpoint's), in Keras' order.
 */
export function slotsInModelOrder(
  model: tf.LayersModel,
  state: readonly NamedTensorData[],
  kerasWeights: readonly string[],
): readonly NamedTensorData[] {
  const slots = state.filter(isKerasOrdered);
  if (slots.length === 0) return state;
  // The weights' names are those of one of the files modelbay reads: the one they all come from.
  const given = new Set(kerasWeights);
  const naming =
    weightNamings(model).find((name) => model.weights.every((w) => given.has(name(w)))) ?? ((w) => w.originalName);
  const trainable = model.trainableWeights.map((w) => ({ weight: w, path: naming(w) }));
  const trainablePaths = new Set(trainable.map((t) => t.path));
  const kerasIndex = new Map(kerasWeights.filter((name) => trainablePaths.has(name)).map((name, k) => [name, k]));
  if (slots.length !== 2 * trainable.length) {
    throw new ModelbayError(
      Code.INVALID_ARGUMENT,
      `the optimizer holds ${slots.length} slot variables; Adam over the model's ${trainable.length} trainable weights needs ${2 * trainable.length}`,
    );
  }
  if (kerasIndex.size !== trainable.length) {
    throw new ModelbayError(
      Code.INVALID_ARGUMENT,
      "the optimizer's slots cannot be matched to the model's weights: the file names its layers otherwise than the model does",
    );
  }
  const slot = ({ weight, path }: (typeof trainable)[number], which: "m" | "v"): NamedTensorData => {
    const k = kerasIndex.get(path) as number;
    const tensor = (slots[2 * k + (which === "m" ? 0 : 1)] as NamedTensorData).tensor;
    if (tensor.shape.join(",") !== weight.shape.join(",")) {
      throw new ModelbayError(
        Code.INVALID_ARGUMENT,
        `optimizer slot ${which} of "${path}" has shape [${tensor.shape.join(", ")}], the weight has [${weight.shape.join(", ")}]`,
      );
    }
    return { name: `${weight.originalName}/${which}`, tensor };
  };
  return [
    ...state.filter((w) => !isKerasOrdered(w)),
    ...trainable.map((t) => slot(t, "m")),
    ...trainable.map((t) => slot(t, "v")),
  ];
}
