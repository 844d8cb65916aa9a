// The classic example models as wire specs: used by the demo, the benchmarks and the tests.
import { Activation, Loss, type ModelSpec, OptimizerKind } from "../gen/modelbay/v1/model.js";

const dense = (units: number, activation = Activation.ACTIVATION_UNSPECIFIED, name = "") => ({
  name,
  kind: { $case: "dense" as const, dense: { units, activation } },
});

// Functions, not shared objects: callers adjust the specs they get (metrics, learning rate).
const compile = () => ({
  optimizer: {
    kind: OptimizerKind.OPTIMIZER_KIND_ADAM,
    learningRate: 0,
    beta1: 0,
    beta2: 0,
    epsilon: 0,
    momentum: 0,
    rho: 0,
  },
  loss: Loss.LOSS_MEAN_SQUARED_ERROR,
  metrics: [] as number[],
});

const base = () => ({
  blocks: [],
  compile: compile(),
  inputName: "",
  outputName: "",
  preprocessing: "",
  reportNonFinite: false,
});

/** Dense(128, relu, input 10) -> Dense(1), adam/mse. */
export function classicDenseSpec(seed = 42): ModelSpec {
  return denseStackSpec([128], seed);
}

/** Input 10 -> Dense(u, relu) for each of `hidden` -> Dense(1), adam/mse: the classic model resized. */
export function denseStackSpec(hidden: readonly number[], seed = 42): ModelSpec {
  return {
    ...base(),
    topology: {
      $case: "sequential",
      sequential: {
        inputShape: [10],
        layers: [...hidden.map((units) => dense(units, Activation.ACTIVATION_RELU)), dense(1)],
      },
    },
    seed,
  };
}

/** A reusable block wrapping Dense(64, relu), placed twice, then Dense(1). */
export function customBlockSpec(seed = 7): ModelSpec {
  return {
    ...base(),
    blocks: [{ name: "hidden", layers: [dense(64, Activation.ACTIVATION_RELU)] }],
    topology: {
      $case: "sequential",
      sequential: {
        inputShape: [10],
        layers: [
          { name: "block_a", kind: { $case: "block", block: { block: "hidden" } } },
          { name: "block_b", kind: { $case: "block", block: { block: "hidden" } } },
          dense(1),
        ],
      },
    },
    seed,
  };
}
