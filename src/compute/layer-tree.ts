// Walks over a tfjs-layers model: the layers inside its layers, and the shapes each layer was
// applied with. Shared by the checks that look at a whole model (regularizers, recurrent layers,
// sizes of 0, activations per row).
import * as tf from "@tensorflow/tfjs";

/** The layers inside a layer: a nested model's, a Bidirectional's two, another wrapper's one. */
function innerLayers(layer: tf.layers.Layer): tf.layers.Layer[] {
  if (layer instanceof tf.LayersModel) return layer.layers;
  const wrapped = layer as unknown as Record<"forwardLayer" | "backwardLayer" | "layer", unknown>;
  const bidirectional = [wrapped.forwardLayer, wrapped.backwardLayer];
  const inner = bidirectional.some((l) => l !== undefined) ? bidirectional : [wrapped.layer];
  return inner.filter((l): l is tf.layers.Layer => l instanceof tf.layers.Layer);
}

/** Every layer of the model, and every layer inside those, depth first. */
export function everyLayer(model: tf.LayersModel): tf.layers.Layer[] {
  const all: tf.layers.Layer[] = [];
  const visit = (layer: tf.layers.Layer) => {
    all.push(layer);
    innerLayers(layer).forEach(visit);
  };
  model.layers.forEach(visit);
  return all;
}

/**
 * Each weight's "<layer>/vars/<i>" (a nested model's "<model>/<layer>/vars/<i>"): how a Keras 3
 * .keras file names them (src/interop/keras-config.ts). A layer's i-th weight in tfjs-layers' order
 * (trainable first) is its i-th variable in Keras'.
 */
export function layerPathsOfWeights(model: tf.LayersModel): Map<tf.LayerVariable, string> {
  const out = new Map<tf.LayerVariable, string>();
  const visit = (layers: tf.layers.Layer[], prefix: string) => {
    for (const layer of layers) {
      if (layer instanceof tf.LayersModel) visit(layer.layers, `${prefix}${layer.name}/`);
      else for (const [i, w] of layer.weights.entries()) out.set(w, `${prefix}${layer.name}/vars/${i}`);
    }
  };
  visit(model.layers, "");
  return out;
}

/**
 * Each weight's "layer_with_weights-<n>/vars/<i>": how a TensorFlow checkpoint of a Keras 2 model
 * names its layers (the n-th of the model's layers that has weights; a nested model's by a path of
 * such names), with the layer's i-th weight in Keras' order (src/interop/tf-checkpoint.ts).
 */
export function checkpointPathsOfWeights(model: tf.LayersModel): Map<tf.LayerVariable, string> {
  const out = new Map<tf.LayerVariable, string>();
  const visit = (layers: tf.layers.Layer[], prefix: string) => {
    for (const [n, layer] of layers.filter((l) => l.weights.length > 0).entries()) {
      const path = `${prefix}layer_with_weights-${n}`;
      if (layer instanceof tf.LayersModel) visit(layer.layers, `${path}/`);
      else for (const [i, w] of layer.weights.entries()) out.set(w, `${path}/vars/${i}`);
    }
  };
  visit(model.layers, "");
  return out;
}

/** The names a weight goes by in the files modelbay reads: TensorFlow.js', a .keras file's, a TensorFlow checkpoint's. */
export function weightNamings(model: tf.LayersModel): ((w: tf.LayerVariable) => string)[] {
  const layerPaths = layerPathsOfWeights(model);
  const checkpointPaths = checkpointPathsOfWeights(model);
  return [(w) => w.originalName, (w) => layerPaths.get(w) ?? "", (w) => checkpointPaths.get(w) ?? ""];
}

export interface LayerApplication {
  layer: tf.layers.Layer;
  /** The shapes it was applied to and gave (as declared: null for a free axis), one per tensor. */
  inputs: unknown[];
  outputs: unknown[];
}

/** Each application of each of the model's layers (a shared layer has several), with its shapes. */
export function layerApplications(model: tf.LayersModel): LayerApplication[] {
  // tfjs-layers keeps one shape where a node has one tensor, and a list of shapes where it has more.
  const listed = (shape: unknown): unknown[] => (Array.isArray(shape) && Array.isArray(shape[0]) ? shape : [shape]);
  return model.layers.flatMap((layer) =>
    layer.inboundNodes.map((node) => ({
      layer,
      inputs: listed(node.inputShapes),
      outputs: listed(node.outputShapes),
    })),
  );
}
