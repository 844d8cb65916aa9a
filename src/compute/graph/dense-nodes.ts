// The forward pass of a Dense stack as graph nodes, shared by the train graph and the forward graph.
import type { DenseLayerPlan } from "../dense-stack.js";
import { type AddNode, FLOAT as F } from "./graph-def.js";

const ACTIVATION_OPS = { relu: "Relu", sigmoid: "Sigmoid", tanh: "Tanh", softmax: "Softmax" } as const;

/**
 * The forward pass of `layers` from `x`, given each layer's kernel and bias as nodes: each layer's
 * input and output, in order (the train graph differentiates through them).
 */
export function denseForwardNodes(
  node: AddNode,
  layers: readonly DenseLayerPlan[],
  x: string,
  params: readonly { kernel: string; bias?: string }[],
): { inputs: string[]; outputs: string[] } {
  const inputs: string[] = [];
  const outputs: string[] = [];
  let a = x;
  layers.forEach((l, i) => {
    const p = params[i] as (typeof params)[number];
    inputs.push(a);
    let z = node(`matmul${i}`, "MatMul", [a, p.kernel], { T: F });
    // AddV2 rather than BiasAdd: the same sum, and TensorFlow does not fuse it into the matmul
    // (a fused bias rounds differently from tfjs' separate add).
    if (p.bias) z = node(`bias_add${i}`, "AddV2", [z, p.bias], { T: F });
    a = l.activation === "linear" ? z : node(`act${i}`, ACTIVATION_OPS[l.activation], [z], { T: F });
    outputs.push(a);
  });
  return { inputs, outputs };
}
