// Builds and compiles a TensorFlow.js model from a domain ModelSpec.
import * as tf from "@tensorflow/tfjs";
import { Code, ModelbayError, reasonOf, thrownAs } from "../errors.js";
import { isJsonObject } from "../json-object.js";
import { checkKerasGraph } from "./keras-graph-check.js";
import { kerasTopologyForTfjs } from "./keras3-topology.js";
import { createLayer, SeedSequence } from "./layers.js";
import type { CompileSpec, LossKind, MetricKind, ModelSpec, OptimizerSpec } from "./model-spec.js";
import { WeightBudget } from "./weight-budget.js";
// Register Keras' GRU (reset_after) and layers TensorFlow.js lacks in its deserializer, for
// topologies built below; and keep masks where Keras has them.
import "./gru-reset-after.js";
import { checkAttentionMasks } from "./keras-attention.js";
import "./keras-dot-attention.js";
import "./keras-layers.js";
import "./keras-merge-masks.js";
import "./keras-operation-layer.js";
import "./mask-carry.js";
import { unknownClassReason } from "./keras-activations.js";

const TFJS_LOSS: Record<LossKind, string> = {
  mean_squared_error: "meanSquaredError",
  mean_absolute_error: "meanAbsoluteError",
  binary_crossentropy: "binaryCrossentropy",
  categorical_crossentropy: "categoricalCrossentropy",
  sparse_categorical_crossentropy: "sparseCategoricalCrossentropy",
};

const TFJS_METRIC: Record<MetricKind, string> = {
  mean_absolute_error: "mae",
  mean_squared_error: "mse",
  accuracy: "accuracy",
};

export function createOptimizer(spec: OptimizerSpec): tf.Optimizer {
  switch (spec.kind) {
    case "adam":
      return tf.train.adam(spec.learningRate ?? 0.001, spec.beta1 ?? 0.9, spec.beta2 ?? 0.999, spec.epsilon ?? 1e-7);
    case "sgd":
      return spec.momentum
        ? tf.train.momentum(spec.learningRate ?? 0.01, spec.momentum)
        : tf.train.sgd(spec.learningRate ?? 0.01);
    case "rmsprop":
      return tf.train.rmsprop(spec.learningRate ?? 0.001, spec.rho ?? 0.9, spec.momentum ?? 0, spec.epsilon ?? 1e-7);
  }
}

function compile(model: tf.LayersModel, spec: CompileSpec): void {
  model.compile({
    optimizer: createOptimizer(spec.optimizer),
    // A model without a loss can still predict; training checks for the loss before it starts.
    loss: TFJS_LOSS[spec.loss ?? "mean_squared_error"],
    metrics: spec.metrics.map((m) => TFJS_METRIC[m]),
  });
}

async function buildTopology(spec: ModelSpec, weightsFollow: boolean, budget: WeightBudget): Promise<tf.LayersModel> {
  const topology = spec.topology;
  if (topology.kind === "keras-json") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(topology.json);
    } catch (err) {
      throw new ModelbayError(Code.INVALID_ARGUMENT, "spec.keras_json: not valid JSON", { cause: err });
    }
    const modelTopology = kerasTopologyForTfjs((parsed as { modelTopology?: unknown }).modelTopology ?? parsed);
    checkKerasGraph(
      isJsonObject(modelTopology) && modelTopology.model_config ? modelTopology.model_config : modelTopology,
    );
    let built: unknown;
    try {
      built = await budget.run(() => tf.models.modelFromJSON({ modelTopology } as tf.io.ModelJSON));
    } catch (err) {
      throw thrownAs(Code.INVALID_ARGUMENT, "spec.keras_json", err, unknownClassReason(reasonOf(err)));
    }
    // A topology whose top level is a layer, not a model, deserializes into that layer.
    if (built instanceof tf.LayersModel) {
      try {
        checkAttentionMasks(built);
      } catch (err) {
        built.dispose();
        throw thrownAs(Code.INVALID_ARGUMENT, "spec.keras_json", err);
      }
      return built;
    }
    (built as { dispose?: () => void } | null)?.dispose?.();
    throw new ModelbayError(
      Code.INVALID_ARGUMENT,
      "spec.keras_json: the topology is not a model (Sequential or Functional)",
    );
  }
  const seeds = new SeedSequence(spec.seed);
  const model = tf.sequential({ name: "model" });
  try {
    budget.run(() =>
      topology.layers.forEach((layer, i) => {
        model.add(
          createLayer(layer, {
            blocks: spec.blocks,
            seeds,
            name: layer.name ?? `${layer.kind === "block" ? layer.block : layer.kind}_${i}`,
            ...(i === 0 ? { inputShape: topology.inputShape } : {}),
            weightsFollow,
          }),
        );
      }),
    );
  } catch (err) {
    model.dispose();
    throw cannotBuild(err);
  }
  return model;
}

/**
 * Builds the model; a spec the api layer validated can still fail in TensorFlow.js (say, a bad JSON
 * topology). `weightsFollow`: the caller sets every weight next (a restore), so skip the random draws.
 * `maxModelBytes`: the server's whole memory budget; a model whose weights (with their optimizer
 * slots) exceed it is refused as its weights are created, before the one over it is allocated.
 */
export async function buildModel(
  spec: ModelSpec,
  weightsFollow = false,
  maxModelBytes?: number,
): Promise<tf.LayersModel> {
  const budget = new WeightBudget(maxModelBytes);
  let model: tf.LayersModel;
  try {
    model = await buildTopology(spec, weightsFollow, budget);
  } catch (err) {
    // A build that failed half way leaves the weights it made so far to nobody.
    budget.releaseCreated();
    throw err;
  }
  try {
    budget.run(() => compile(model, spec.compile));
    return model;
  } catch (err) {
    model.dispose();
    budget.releaseCreated();
    throw cannotBuild(err);
  }
}

/**
 * The api layer validates the specs it is sent; a spec read from a file (an imported .keras or
 * TensorFlow.js model, a checkpoint's state) meets only TensorFlow.js's own checks, and what they
 * refuse is that file's fault, not the server's.
 */
function cannotBuild(err: unknown): ModelbayError {
  return thrownAs(Code.INVALID_ARGUMENT, "spec: the model cannot be built", err);
}
