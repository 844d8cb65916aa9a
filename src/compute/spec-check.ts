// Checks a domain ModelSpec that arrives as JSON from a file (a checkpoint's state.json, a spec a
// .keras import produced), where the api layer's checks of the wire spec never ran: every field
// the server reads, of the type and range it reads it as.

import { isJsonObject } from "../json-object.js";
import { ACTIVATIONS, LOSS_KINDS, METRIC_KINDS, type ModelSpec, OPTIMIZER_KINDS } from "./model-spec.js";

/** Whether `v` is one of `values` (a domain enum's list). */
const isOneOf = (values: readonly string[], v: unknown) => typeof v === "string" && values.includes(v);

const isPositiveInt = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;
const isOptionalName = (v: unknown) => v === undefined || typeof v === "string";

function layerProblem(layer: unknown, where: string): string | undefined {
  if (!isJsonObject(layer) || !isOptionalName(layer.name)) return `${where} is not a layer`;
  if (layer.kind === "dense") {
    if (!isPositiveInt(layer.units)) return `${where}.units is ${JSON.stringify(layer.units)}`;
    if (!isOneOf(ACTIVATIONS, layer.activation)) return `${where}.activation is ${JSON.stringify(layer.activation)}`;
    return typeof layer.useBias === "boolean" ? undefined : `${where}.useBias is not a boolean`;
  }
  if (layer.kind === "dropout") {
    const rate = layer.rate;
    return typeof rate === "number" && rate >= 0 && rate < 1 ? undefined : `${where}.rate is ${JSON.stringify(rate)}`;
  }
  if (layer.kind === "block") return typeof layer.block === "string" ? undefined : `${where}.block is not a name`;
  return `${where}.kind is ${JSON.stringify(layer.kind)}`;
}

function layersProblem(layers: unknown, where: string): string | undefined {
  if (!Array.isArray(layers)) return `${where} is not a list`;
  for (const [i, layer] of layers.entries()) {
    const problem = layerProblem(layer, `${where}[${i}]`);
    if (problem) return problem;
  }
  return undefined;
}

function compileProblem(compile: unknown): string | undefined {
  if (!isJsonObject(compile) || !isJsonObject(compile.optimizer)) return "compile.optimizer is missing";
  const { kind, ...params } = compile.optimizer;
  if (!isOneOf(OPTIMIZER_KINDS, kind)) return `compile.optimizer.kind is ${JSON.stringify(kind)}`;
  for (const [name, v] of Object.entries(params)) {
    if (v !== undefined && !(typeof v === "number" && Number.isFinite(v) && v >= 0))
      return `compile.optimizer.${name} is ${JSON.stringify(v)}`;
  }
  if (compile.loss !== undefined && !isOneOf(LOSS_KINDS, compile.loss))
    return `compile.loss is ${JSON.stringify(compile.loss)}`;
  if (!Array.isArray(compile.metrics) || !compile.metrics.every((m) => isOneOf(METRIC_KINDS, m)))
    return "compile.metrics is not a list of metrics";
  return undefined;
}

/** What is wrong with `spec`, or undefined when the server can build and describe it. */
export function specProblem(spec: unknown): string | undefined {
  if (!isJsonObject(spec) || !isJsonObject(spec.topology)) return "no topology";
  const topology = spec.topology;
  if (topology.kind === "sequential") {
    const shape = topology.inputShape;
    if (!Array.isArray(shape) || shape.length === 0 || !shape.every(isPositiveInt))
      return `topology.inputShape is ${JSON.stringify(shape)}`;
    const problem = layersProblem(topology.layers, "topology.layers");
    if (problem) return problem;
  } else if (topology.kind !== "keras-json" || typeof topology.json !== "string") {
    return `topology.kind is ${JSON.stringify(topology.kind)}`;
  }
  if (!Array.isArray(spec.blocks)) return "blocks is not a list";
  for (const [i, block] of spec.blocks.entries()) {
    if (!isJsonObject(block) || typeof block.name !== "string") return `blocks[${i}] has no name`;
    const problem = layersProblem(block.layers, `blocks[${i}].layers`);
    if (problem) return problem;
  }
  const problem = compileProblem(spec.compile);
  if (problem) return problem;
  for (const field of ["inputName", "outputName", "preprocessing"] as const) {
    if (typeof spec[field] !== "string") return `${field} is not a string`;
  }
  if (spec.seed !== undefined && !Number.isSafeInteger(spec.seed)) return `seed is ${JSON.stringify(spec.seed)}`;
  return undefined;
}

/** `spec` as a ModelSpec once it checks out; `fail` says what is wrong otherwise. */
export function checkedSpec(spec: unknown, fail: (problem: string) => Error): ModelSpec {
  const problem = specProblem(spec);
  if (problem) throw fail(problem);
  return spec as ModelSpec;
}
