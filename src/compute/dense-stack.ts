// A model seen as a plain stack of Dense layers (custom blocks flattened), when it is one: what the
// one-call train step (graph/) and the direct forward pass (dense-forward.ts) work from.
import type * as tf from "@tensorflow/tfjs";
import { BlockLayer } from "./layers.js";
import { hasConstraints, hasPenalties } from "./regularization.js";

export type DenseActivation = "linear" | "relu" | "sigmoid" | "tanh" | "softmax";
const ACTIVATIONS = new Set<string>(["linear", "relu", "sigmoid", "tanh", "softmax"]);

export interface DenseLayerPlan {
  inputDim: number;
  units: number;
  activation: DenseActivation;
  useBias: boolean;
}

export interface DenseStack {
  layers: DenseLayerPlan[];
  /** Per layer, its kernel and (when it has one) its bias. */
  weights: { kernel: tf.LayerVariable; bias?: tf.LayerVariable }[];
  /** Every variable in the model's trainable-weight order. */
  variables: tf.LayerVariable[];
}

/** The model's layers as a Dense stack with their variables; otherwise why it is not one. */
export function denseStackOf(model: tf.LayersModel): DenseStack | string {
  // Keras applies a Dense to the last axis of an input of any rank; the plans here are matrix products.
  const rank = model.inputs[0]?.shape.length;
  if (model.inputs.length !== 1 || rank !== 2) return `the input has rank ${rank}, not a batch of vectors`;
  // A chain of layers whose last one alone is the output: a model that also serves a hidden layer is not one.
  if (model.outputs.length !== 1) return `the model has ${model.outputs.length} outputs`;
  // The one-call step computes the plain loss and leaves weights where the update puts them.
  if (hasPenalties(model)) return "a layer has a regularizer";
  if (hasConstraints(model)) return "a weight has a constraint";
  // A chain: each layer applied once, to what the one before it gave. A functional topology can
  // apply one Dense twice (a shared layer) and still list it once, which a plan would compute once.
  let previous: tf.layers.Layer | undefined;
  for (const layer of model.layers) {
    const nodes = layer.inboundNodes;
    if (nodes.length !== 1) return `layer ${layer.name} is applied ${nodes.length} times`;
    const from = nodes[0]?.inboundLayers ?? [];
    if (previous && (from.length !== 1 || from[0] !== previous)) {
      return `layer ${layer.name} does not take the output of ${previous.name}`;
    }
    previous = layer;
  }
  const dense: tf.layers.Layer[] = [];
  const flatten = (layer: tf.layers.Layer): string | undefined => {
    const className = layer.getClassName();
    if (className === "InputLayer") return undefined;
    if (layer instanceof BlockLayer) {
      for (const inner of layer.layers) {
        const reason = flatten(inner);
        if (reason) return reason;
      }
      return undefined;
    }
    if (className !== "Dense") return `layer ${layer.name} is a ${className}`;
    dense.push(layer);
    return undefined;
  };
  for (const layer of model.layers) {
    const reason = flatten(layer);
    if (reason) return reason;
  }
  const stack: DenseStack = { layers: [], weights: [], variables: [] };
  for (const [i, layer] of dense.entries()) {
    const config = layer.getConfig() as { activation?: string; useBias?: boolean };
    const activation = config.activation ?? "linear";
    if (!ACTIVATIONS.has(activation)) return `layer ${layer.name} has activation ${activation}`;
    if (activation === "softmax" && i !== dense.length - 1) return "softmax before the last layer";
    const [kernel, bias] = layer.trainableWeights;
    if (kernel?.shape.length !== 2) return `layer ${layer.name} has no 2-D kernel`;
    stack.layers.push({
      inputDim: kernel.shape[0] as number,
      units: kernel.shape[1] as number,
      activation: activation as DenseActivation,
      useBias: config.useBias !== false,
    });
    stack.weights.push({ kernel, ...(bias ? { bias } : {}) });
    stack.variables.push(kernel, ...(bias ? [bias] : []));
  }
  const same =
    stack.variables.length === model.trainableWeights.length &&
    stack.variables.every((v, i) => v === model.trainableWeights[i]);
  if (stack.layers.length === 0 || !same) return "the trainable weights are not those of a Dense stack";
  return stack;
}
