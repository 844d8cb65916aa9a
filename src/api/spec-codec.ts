// Translates the wire ModelSpec into the domain ModelSpec, validating every field and naming the
// offending one in INVALID_ARGUMENT; and back, for GetModel.
import type * as domain from "../compute/model-spec.js";
import { DEFAULT_INPUT_NAME, DEFAULT_OUTPUT_NAME } from "../compute/model-spec.js";
import { sequentialSize } from "../compute/spec-size.js";
import { invalidArgument } from "../errors.js";
import * as wire from "../gen/modelbay/v1/model.js";

const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/**
 * Most layers a sequential spec may expand to once its blocks are placed: blocks that place other
 * blocks twice over multiply, and TensorFlow.js builds every layer on the device thread.
 */
export const MAX_LAYERS = 10_000;

/** Wire enum value <-> domain string, in one table per enum so both directions agree. */
const ACTIVATIONS: [wire.Activation, domain.Activation][] = [
  [wire.Activation.ACTIVATION_UNSPECIFIED, "linear"],
  [wire.Activation.ACTIVATION_RELU, "relu"],
  [wire.Activation.ACTIVATION_SIGMOID, "sigmoid"],
  [wire.Activation.ACTIVATION_TANH, "tanh"],
  [wire.Activation.ACTIVATION_SOFTMAX, "softmax"],
  [wire.Activation.ACTIVATION_ELU, "elu"],
  [wire.Activation.ACTIVATION_SELU, "selu"],
  [wire.Activation.ACTIVATION_SOFTPLUS, "softplus"],
  [wire.Activation.ACTIVATION_SWISH, "swish"],
];
const OPTIMIZERS: [wire.OptimizerKind, domain.OptimizerKind][] = [
  [wire.OptimizerKind.OPTIMIZER_KIND_UNSPECIFIED, "adam"],
  [wire.OptimizerKind.OPTIMIZER_KIND_ADAM, "adam"],
  [wire.OptimizerKind.OPTIMIZER_KIND_SGD, "sgd"],
  [wire.OptimizerKind.OPTIMIZER_KIND_RMSPROP, "rmsprop"],
];
const LOSSES: [wire.Loss, domain.LossKind][] = [
  [wire.Loss.LOSS_MEAN_SQUARED_ERROR, "mean_squared_error"],
  [wire.Loss.LOSS_MEAN_ABSOLUTE_ERROR, "mean_absolute_error"],
  [wire.Loss.LOSS_BINARY_CROSSENTROPY, "binary_crossentropy"],
  [wire.Loss.LOSS_CATEGORICAL_CROSSENTROPY, "categorical_crossentropy"],
  [wire.Loss.LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, "sparse_categorical_crossentropy"],
];
const METRICS: [wire.Metric, domain.MetricKind][] = [
  [wire.Metric.METRIC_MEAN_ABSOLUTE_ERROR, "mean_absolute_error"],
  [wire.Metric.METRIC_MEAN_SQUARED_ERROR, "mean_squared_error"],
  [wire.Metric.METRIC_ACCURACY, "accuracy"],
];

function toDomain<W, D>(table: [W, D][], value: W, field: string): D {
  const hit = table.find(([w]) => w === value);
  if (!hit) throw invalidArgument(field, `unknown value ${String(value)}`);
  return hit[1];
}

function toWire<W, D>(table: [W, D][], value: D): W {
  const hit = table.find(([, d]) => d === value);
  if (!hit) throw new Error(`no wire value for ${String(value)}`);
  return hit[0];
}

function checkName(name: string, field: string): void {
  if (!NAME.test(name))
    throw invalidArgument(
      field,
      `"${name}" is not a valid name (a letter, then letters, digits, '_' or '-'; at most 64)`,
    );
}

function layerFromWire(layer: wire.LayerSpec, field: string, knownBlocks: ReadonlySet<string>): domain.LayerSpec {
  const named = layer.name === "" ? {} : { name: layer.name };
  if (layer.name !== "") checkName(layer.name, `${field}.name`);
  const kind = layer.kind;
  if (!kind) throw invalidArgument(field, "no layer kind set (dense, dropout or block)");
  switch (kind.$case) {
    case "dense": {
      const { units, activation, useBias } = kind.dense;
      if (!Number.isInteger(units) || units <= 0)
        throw invalidArgument(`${field}.dense.units`, `must be positive, got ${units}`);
      return {
        ...named,
        kind: "dense",
        units,
        activation: toDomain(ACTIVATIONS, activation, `${field}.dense.activation`),
        useBias: useBias ?? true,
      };
    }
    case "dropout": {
      const { rate } = kind.dropout;
      if (!(rate >= 0 && rate < 1)) throw invalidArgument(`${field}.dropout.rate`, `must be in [0, 1), got ${rate}`);
      return { ...named, kind: "dropout", rate };
    }
    case "block": {
      const { block } = kind.block;
      if (!knownBlocks.has(block)) {
        const known = [...knownBlocks].map((b) => `"${b}"`).join(", ") || "none";
        throw invalidArgument(
          `${field}.block.block`,
          `unknown block "${block}" (blocks declared before this point: ${known})`,
        );
      }
      return { ...named, kind: "block", block };
    }
  }
}

function layersFromWire(layers: wire.LayerSpec[], field: string, knownBlocks: ReadonlySet<string>): domain.LayerSpec[] {
  if (layers.length === 0) throw invalidArgument(field, "needs at least one layer");
  const seen = new Set<string>();
  return layers.map((layer, i) => {
    if (layer.name !== "" && seen.has(layer.name))
      throw invalidArgument(`${field}[${i}].name`, `"${layer.name}" is used twice`);
    seen.add(layer.name);
    return layerFromWire(layer, `${field}[${i}]`, knownBlocks);
  });
}

function blocksFromWire(blocks: wire.BlockDefinition[]): domain.BlockDefinition[] {
  // A block may only place blocks declared before it, which rules out cycles.
  const known = new Set<string>();
  return blocks.map((block, i) => {
    const field = `spec.blocks[${i}]`;
    checkName(block.name, `${field}.name`);
    if (known.has(block.name)) throw invalidArgument(`${field}.name`, `block "${block.name}" is declared twice`);
    const layers = layersFromWire(block.layers, `${field}.layers`, known);
    known.add(block.name);
    return { name: block.name, layers };
  });
}

function optimizerFromWire(o: wire.OptimizerSpec | undefined): domain.OptimizerSpec {
  const field = "spec.compile.optimizer";
  if (!o) return { kind: "adam" };
  const spec: domain.OptimizerSpec = { kind: toDomain(OPTIMIZERS, o.kind, `${field}.kind`) };
  const params = ["learningRate", "beta1", "beta2", "epsilon", "momentum", "rho"] as const;
  const wireNames = {
    learningRate: "learning_rate",
    beta1: "beta1",
    beta2: "beta2",
    epsilon: "epsilon",
    momentum: "momentum",
    rho: "rho",
  };
  for (const p of params) {
    const v = o[p];
    if (!Number.isFinite(v) || v < 0)
      throw invalidArgument(`${field}.${wireNames[p]}`, `must be a finite number >= 0, got ${v}`);
    if (v > 0) spec[p] = v;
  }
  return spec;
}

function compileFromWire(c: wire.CompileSpec | undefined): domain.CompileSpec {
  const compile: domain.CompileSpec = { optimizer: optimizerFromWire(c?.optimizer), metrics: [] };
  if (!c) return compile;
  if (c.loss !== wire.Loss.LOSS_UNSPECIFIED) compile.loss = toDomain(LOSSES, c.loss, "spec.compile.loss");
  compile.metrics = c.metrics.map((m, i) => toDomain(METRICS, m, `spec.compile.metrics[${i}]`));
  return compile;
}

export function specFromWire(spec: wire.ModelSpec | undefined): domain.ModelSpec {
  if (!spec) throw invalidArgument("spec", "is required");
  const blocks = blocksFromWire(spec.blocks);
  const topology = spec.topology;
  let domainTopology: domain.Topology;
  if (!topology) throw invalidArgument("spec.topology", "set either sequential or keras_json");
  if (topology.$case === "sequential") {
    const { inputShape, layers } = topology.sequential;
    if (inputShape.length === 0)
      throw invalidArgument("spec.sequential.input_shape", "is required (the shape of one example, e.g. [10])");
    inputShape.forEach((d, i) => {
      if (!Number.isInteger(d) || d <= 0)
        throw invalidArgument(`spec.sequential.input_shape[${i}]`, `must be positive, got ${d}`);
    });
    const known = new Set(blocks.map((b) => b.name));
    domainTopology = {
      kind: "sequential",
      inputShape: [...inputShape],
      layers: layersFromWire(layers, "spec.sequential.layers", known),
    };
  } else {
    if (topology.kerasJson.trim() === "") throw invalidArgument("spec.keras_json", "is empty");
    domainTopology = { kind: "keras-json", json: topology.kerasJson };
  }
  const layerCount = sequentialSize({ topology: domainTopology, blocks })?.layers ?? 0;
  if (layerCount > MAX_LAYERS) {
    throw invalidArgument(
      "spec.sequential.layers",
      `expands to ${layerCount} layers once its blocks are placed; the most a model may have is ${MAX_LAYERS}`,
    );
  }
  const inputName = spec.inputName || DEFAULT_INPUT_NAME;
  const outputName = spec.outputName || DEFAULT_OUTPUT_NAME;
  checkName(inputName, "spec.input_name");
  checkName(outputName, "spec.output_name");
  return {
    topology: domainTopology,
    blocks,
    compile: compileFromWire(spec.compile),
    inputName,
    outputName,
    preprocessing: spec.preprocessing,
    ...(spec.seed === undefined ? {} : { seed: spec.seed }),
    ...(spec.reportNonFinite ? { reportNonFinite: true } : {}),
  };
}

function layerToWire(layer: domain.LayerSpec): wire.LayerSpec {
  const name = layer.name ?? "";
  switch (layer.kind) {
    case "dense":
      return {
        name,
        kind: {
          $case: "dense",
          dense: { units: layer.units, activation: toWire(ACTIVATIONS, layer.activation), useBias: layer.useBias },
        },
      };
    case "dropout":
      return { name, kind: { $case: "dropout", dropout: { rate: layer.rate } } };
    case "block":
      return { name, kind: { $case: "block", block: { block: layer.block } } };
  }
}

export function specToWire(spec: domain.ModelSpec): wire.ModelSpec {
  const o = spec.compile.optimizer;
  return {
    topology:
      spec.topology.kind === "sequential"
        ? {
            $case: "sequential",
            sequential: { inputShape: spec.topology.inputShape, layers: spec.topology.layers.map(layerToWire) },
          }
        : { $case: "kerasJson", kerasJson: spec.topology.json },
    blocks: spec.blocks.map((b) => ({ name: b.name, layers: b.layers.map(layerToWire) })),
    compile: {
      optimizer: {
        kind: toWire(OPTIMIZERS.slice(1), o.kind),
        learningRate: o.learningRate ?? 0,
        beta1: o.beta1 ?? 0,
        beta2: o.beta2 ?? 0,
        epsilon: o.epsilon ?? 0,
        momentum: o.momentum ?? 0,
        rho: o.rho ?? 0,
      },
      loss: spec.compile.loss ? toWire(LOSSES, spec.compile.loss) : wire.Loss.LOSS_UNSPECIFIED,
      metrics: spec.compile.metrics.map((m) => toWire(METRICS, m)),
    },
    inputName: spec.inputName,
    outputName: spec.outputName,
    preprocessing: spec.preprocessing,
    ...(spec.seed === undefined ? {} : { seed: spec.seed }),
    reportNonFinite: spec.reportNonFinite ?? false,
  };
}
