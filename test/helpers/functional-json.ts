// Keras functional topologies in TensorFlow.js' JSON (Keras 2's form), written by hand in tests of
// models with several inputs and outputs.
import type { ModelSpec } from "../../src/gen/modelbay/v1/model.js";
import { denseSpec } from "./specs.js";

type Node = [string, number];

/** A float32 input of `width` features. */
export const inputLayer = (name: string, width: number) => ({
  class_name: "InputLayer",
  name,
  config: { name, batch_input_shape: [null, width], dtype: "float32" },
  inbound_nodes: [],
});

/** A layer applied once per entry of `calls`, each call to the tensors (layer, node) it lists. */
export const appliedLayer = (className: string, name: string, config: object, ...calls: Node[][]) => ({
  class_name: className,
  name,
  config: { name, ...config },
  inbound_nodes: calls.map((call) => call.map(([layer, node]) => [layer, node, 0, {}])),
});

/** The topology's config, and a spec that builds it (compiled as the classic example). */
export function functionalModel(layers: object[], inputs: Node[], outputs: Node[]) {
  const config = {
    name: "functional",
    layers,
    input_layers: inputs.map(([layer, node]) => [layer, node, 0]),
    output_layers: outputs.map(([layer, node]) => [layer, node, 0]),
  };
  const kerasJson = JSON.stringify({ class_name: "Model", config });
  const spec: ModelSpec = { ...denseSpec(), topology: { $case: "kerasJson", kerasJson } };
  return { config, spec };
}
