// The JSON topology a checkpoint keeps of a model (TensorFlow.js' `toJSON`), with every input the
// model takes. TensorFlow.js writes only the layers an output depends on, so an input no output
// uses (Keras keeps one: `keras.Model([a, b], Dense(1)(a))` still takes `b`) left the topology, and
// the restored model took one input fewer than the model it was saved from.
import type * as tf from "@tensorflow/tfjs";
import { isJsonObject } from "../json-object.js";

export function modelTopology(model: tf.LayersModel): unknown {
  const json: unknown = model.toJSON(undefined, false);
  if (!isJsonObject(json)) return json;
  const config = isJsonObject(json.config) ? json.config : undefined;
  if (!config || !Array.isArray(config.layers) || !Array.isArray(config.input_layers)) return json;
  const listed = new Set(config.input_layers.map((ref) => (Array.isArray(ref) ? ref[0] : undefined)));
  const missing = model.inputLayers.filter((layer) => !listed.has(layer.name));
  if (missing.length === 0) return json;
  // An InputLayer's config is flat (batchInputShape, dtype, sparse, name): its keys in Keras' case,
  // as toJSON writes the others.
  const snakeCase = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  const inputs = missing.map((layer) => ({
    name: layer.name,
    class_name: layer.getClassName(),
    config: Object.fromEntries(Object.entries(layer.getConfig()).map(([key, value]) => [snakeCase(key), value])),
    inbound_nodes: [],
  }));
  return {
    ...json,
    config: {
      ...config,
      layers: [...inputs, ...config.layers],
      input_layers: model.inputLayers.map((layer) => [layer.name, 0, 0]),
    },
  };
}
