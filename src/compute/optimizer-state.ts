// Optimizer state as named tensors, complete enough to continue training bit for bit.
// tfjs' getWeights() omits Adam's running bias-correction powers (accBeta1/2) and setWeights()
// recomputes them with pow(), which rounds differently from the product accumulated step by step;
// so we carry them as two extra entries.
import * as tf from "@tensorflow/tfjs";
import type { NamedTensorData } from "./engine.js";
import { toTensor } from "./tensor-conversion.js";
import type { TensorData } from "./tensor-data.js";

const ADAM_POWERS = ["modelbay/adam/acc_beta1", "modelbay/adam/acc_beta2"] as const;

interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
}

const isAdam = (o: tf.Optimizer) => (o.constructor as { className?: string }).className === "Adam";

/**
 * The optimizer's state as tensors the caller owns (clones: the optimizer's variables move on as
 * it trains, the clones keep this moment): the iteration count, the slots, Adam's powers.
 */
export async function captureOptimizerState(optimizer: tf.Optimizer): Promise<{ name: string; tensor: tf.Tensor }[]> {
  const weights = await optimizer.getWeights();
  // The iteration count is a fresh tensor, already ours; the slots are the optimizer's variables.
  const out = weights.map((w) => ({ name: w.name, tensor: w.name === "iter" ? w.tensor : tf.clone(w.tensor) }));
  if (isAdam(optimizer)) {
    const adam = optimizer as unknown as AdamInternals;
    out.push({ name: ADAM_POWERS[0], tensor: tf.clone(adam.accBeta1) });
    out.push({ name: ADAM_POWERS[1], tensor: tf.clone(adam.accBeta2) });
  }
  return out;
}

export async function writeOptimizerState(optimizer: tf.Optimizer, state: readonly NamedTensorData[]): Promise<void> {
  const extras = new Map(
    state.filter((w) => (ADAM_POWERS as readonly string[]).includes(w.name)).map((w) => [w.name, w.tensor]),
  );
  const slots = state.filter((w) => !extras.has(w.name));
  if (slots.length === 0) return;
  const tensors = slots.map((w) => ({ name: w.name, tensor: toTensor(w.tensor) }));
  const power = (name: string) => (extras.get(name) as TensorData).data[0] as number;
  try {
    await setOptimizerTensors(
      optimizer,
      tensors,
      extras.size === 2 ? { beta1: power(ADAM_POWERS[0]), beta2: power(ADAM_POWERS[1]) } : undefined,
    );
  } finally {
    for (const t of tensors) t.tensor.dispose();
  }
}

/**
 * Sets the optimizer's state from tensors on the device ("iter", then its slots in its own order):
 * the slots become variables holding their own reference, so the caller still disposes its tensors.
 * `adamPowers` are Adam's running beta1^t and beta2^t, which tfjs would otherwise recompute.
 */
export async function setOptimizerTensors(
  optimizer: tf.Optimizer,
  slots: { name: string; tensor: tf.Tensor }[],
  adamPowers?: { beta1: number; beta2: number },
): Promise<void> {
  // tfjs optimizers replace their slot variables in setWeights without freeing the old ones: every
  // graph trainer flush (train, then read the model) leaked the previous slots, twice the weights'
  // bytes for Adam, and with them a restored checkpoint's mapped file. getWeights() names them
  // (after a fresh copy of the iteration count).
  const previous = await optimizer.getWeights();
  await optimizer.setWeights(slots);
  tf.dispose(previous.map((w) => w.tensor));
  if (isAdam(optimizer) && adamPowers) {
    const adam = optimizer as unknown as AdamInternals;
    tf.tidy(() => {
      adam.accBeta1.assign(tf.scalar(adamPowers.beta1));
      adam.accBeta2.assign(tf.scalar(adamPowers.beta2));
    });
  }
}
