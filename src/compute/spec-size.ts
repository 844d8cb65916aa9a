// How large a model a spec describes, counted before anything is built, so that a spec asking for
// more than the server holds is refused up front instead of allocated. No TensorFlow here.

import { isJsonObject } from "../json-object.js";
import type { LayerSpec, ModelSpec } from "./model-spec.js";

/** What a sequential spec builds, counted without building it. */
export interface SequentialSize {
  /** Kernel and bias elements. */
  parameters: number;
  /** Layers once every block placement is expanded (a block counts as one more layer). */
  layers: number;
}

/**
 * Counts a sequential spec's weights and layers before anything is allocated, so that a spec
 * asking for more than the server holds is refused up front. Undefined for a Keras JSON topology,
 * which only TensorFlow.js reads. Blocks are acyclic (they place only blocks declared before them);
 * each block's count is kept per input width, so nested placements cost no more than the blocks.
 */
export function sequentialSize(spec: Pick<ModelSpec, "topology" | "blocks">): SequentialSize | undefined {
  if (spec.topology.kind !== "sequential") return undefined;
  const blocks = new Map(spec.blocks.map((b) => [b.name, b.layers]));
  const counted = new Map<string, SequentialSize & { width: number }>();
  const count = (layers: readonly LayerSpec[], inputWidth: number): SequentialSize & { width: number } => {
    let width = inputWidth;
    let parameters = 0;
    let total = 0;
    for (const layer of layers) {
      total += 1;
      if (layer.kind === "dense") {
        parameters += width * layer.units + (layer.useBias ? layer.units : 0);
        width = layer.units;
      } else if (layer.kind === "block") {
        const key = `${layer.block}\u0000${width}`;
        const inner = counted.get(key) ?? count(blocks.get(layer.block) ?? [], width);
        counted.set(key, inner);
        parameters += inner.parameters;
        total += inner.layers;
        width = inner.width;
      }
    }
    return { parameters, layers: total, width };
  };
  const { parameters, layers } = count(spec.topology.layers, spec.topology.inputShape.at(-1) ?? 0);
  return { parameters, layers };
}

type Json = Record<string, unknown>;
const positive = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : 0);

/** The last dimension of a layer's declared input shape, if it declares one. */
function declaredWidth(config: Json): number | undefined {
  const shape = config.batch_input_shape ?? config.batch_shape ?? config.input_shape;
  return Array.isArray(shape) && shape.length > 0 ? positive(shape.at(-1)) || undefined : undefined;
}

/**
 * A lower bound on the weights of a Keras JSON topology (as TensorFlow.js reads it), from the layers
 * whose weights follow from their config alone: Dense (its input width where a Sequential model
 * makes it known, else 1) and Embedding. Other layers count nothing, so the bound never refuses a
 * model that fits. It lets the registry refuse (or make room) before the build; the build itself
 * counts every weight of any layer as it is created (weight-budget.ts).
 */
export function kerasParametersAtLeast(json: string): number {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return 0;
  }
  const topology = isJsonObject(parsed) && isJsonObject(parsed.modelTopology) ? parsed.modelTopology : parsed;
  const root = isJsonObject(topology) && isJsonObject(topology.model_config) ? topology.model_config : topology;
  if (!isJsonObject(root)) return 0;
  const config = root.config;
  const layers = Array.isArray(config)
    ? config
    : isJsonObject(config) && Array.isArray(config.layers)
      ? config.layers
      : [];
  // Widths carry from layer to layer only in a Sequential model (elsewhere layers connect by name).
  const sequential = root.class_name === "Sequential";
  let width: number | undefined;
  let parameters = 0;
  for (const layer of layers) {
    if (!isJsonObject(layer) || !isJsonObject(layer.config)) {
      width = undefined;
      continue;
    }
    const c = layer.config;
    // What this layer receives: declared, or (in a Sequential model) what the one before gave.
    const input = declaredWidth(c) ?? (sequential ? width : undefined);
    switch (layer.class_name) {
      case "Dense": {
        const units = positive(c.units);
        parameters += units * (input ?? 1) + (c.use_bias === false ? 0 : units);
        width = units || undefined;
        break;
      }
      case "Embedding":
        parameters += positive(c.input_dim) * positive(c.output_dim);
        width = undefined;
        break;
      case "InputLayer":
      case "Dropout":
      case "Activation":
        width = input;
        break;
      default:
        width = undefined;
    }
  }
  return parameters;
}

/** Weights a spec will have (exact for a sequential spec, a lower bound for Keras JSON). */
export function parametersBeforeBuild(spec: Pick<ModelSpec, "topology" | "blocks">): number {
  return spec.topology.kind === "keras-json"
    ? kerasParametersAtLeast(spec.topology.json)
    : (sequentialSize(spec)?.parameters ?? 0);
}
