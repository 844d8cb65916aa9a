/**
 * GRU with Keras' `reset_after=True`, the default of every Keras GRU since TensorFlow 2.0, which
 * TensorFlow.js refuses ("GRUCell does not support reset_after parameter set to true"). Without
 * it no Keras GRU model would build here.
 *
 * With reset_after the reset gate multiplies the recurrent product instead of the state before it,
 * and the bias holds two rows: one added to the input's product, one to the state's. The classes
 * below take the place of TensorFlow.js' "GRU" and "GRUCell" in its deserializer, so a topology
 * names them as Keras does; with `resetAfter: false` they compute exactly as TensorFlow.js' own.
 */
import * as tf from "@tensorflow/tfjs";
import { firstShape } from "./layer-inputs.js";

type StockGRUCell = ReturnType<typeof tf.layers.gruCell>;
type GRUCellArgs = Parameters<typeof tf.layers.gruCell>[0] & { resetAfter?: boolean };
type GRUArgs = Parameters<typeof tf.layers.gru>[0] & { resetAfter?: boolean };
type Kwargs = Record<string, unknown>;

// TensorFlow.js' package exports its GRUCell class only as a type; its factory's result carries it.
const StockGRUCellClass = tf.layers.gruCell({ units: 1 }).constructor as new (args: GRUCellArgs) => StockGRUCell;

export class GRUCell extends StockGRUCellClass {
  static readonly className = "GRUCell";
  readonly resetAfter: boolean;

  constructor(args: GRUCellArgs) {
    super({ ...args, resetAfter: false });
    this.resetAfter = args.resetAfter === true;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    if (!this.resetAfter) {
      super.build(inputShape);
      return;
    }
    const inputDim = firstShape(inputShape).at(-1) as number;
    const u = this.units;
    // Keras' own order and names, so that its weights files map onto these one for one.
    this.kernel = this.addWeight(
      "kernel",
      [inputDim, 3 * u],
      undefined,
      this.kernelInitializer,
      this.kernelRegularizer,
      true,
      this.kernelConstraint,
    );
    this.recurrentKernel = this.addWeight(
      "recurrent_kernel",
      [u, 3 * u],
      undefined,
      this.recurrentInitializer,
      this.recurrentRegularizer,
      true,
      this.recurrentConstraint,
    );
    if (this.useBias) {
      this.bias = this.addWeight(
        "bias",
        [2, 3 * u],
        undefined,
        this.biasInitializer,
        this.biasRegularizer,
        true,
        this.biasConstraint,
      );
    }
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    if (!this.resetAfter) return super.call(inputs, kwargs);
    return tf.tidy(() => {
      if (!Array.isArray(inputs) || inputs.length !== 2) {
        throw new Error(`GRUCell expects 2 input tensors (inputs, state), got ${[inputs].flat().length}`);
      }
      const training = kwargs.training === true;
      let [x, h] = inputs as [tf.Tensor, tf.Tensor];
      // Keras drops only in training; one mask per sequence, made at its first step and kept
      // across steps (the layer frees it before the next sequence).
      if (training && this.dropout > 0 && this.dropout < 1) {
        this.dropoutMask ??= dropoutMask(x, this.dropout);
        x = tf.mul(x, this.dropoutMask as tf.Tensor);
      }
      if (training && this.recurrentDropout > 0 && this.recurrentDropout < 1) {
        this.recurrentDropoutMask ??= dropoutMask(h, this.recurrentDropout);
        h = tf.mul(h, this.recurrentDropoutMask as tf.Tensor);
      }

      let fromInput = tf.matMul(x, this.kernel.read());
      let fromState = tf.matMul(h, this.recurrentKernel.read());
      if (this.useBias) {
        const [inputBias, recurrentBias] = tf.unstack(this.bias.read()) as [tf.Tensor, tf.Tensor];
        fromInput = tf.add(fromInput, inputBias);
        fromState = tf.add(fromState, recurrentBias);
      }
      const [xz, xr, xh] = tf.split(fromInput, 3, -1) as [tf.Tensor, tf.Tensor, tf.Tensor];
      const [hz, hr, hh] = tf.split(fromState, 3, -1) as [tf.Tensor, tf.Tensor, tf.Tensor];
      const z = this.recurrentActivation.apply(tf.add(xz, hz));
      const r = this.recurrentActivation.apply(tf.add(xr, hr));
      const candidate = this.activation.apply(tf.add(xh, tf.mul(r, hh)));
      const next = tf.add(tf.mul(z, h), tf.mul(tf.sub(1, z), candidate));
      return [next, next];
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), resetAfter: this.resetAfter };
  }

  static fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    return new cls(config);
  }
}

/** Ones dropped at `rate` and scaled; kept, since the mask outlives the step's tidy. */
function dropoutMask(like: tf.Tensor, rate: number): tf.Tensor {
  return tf.keep(tf.dropout(tf.onesLike(like), rate));
}

export class GRU extends tf.RNN {
  static override readonly className = "GRU";

  constructor(args: GRUArgs) {
    super({ ...args, cell: new GRUCell(args) });
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    return tf.tidy(() => {
      // Each sequence draws its own dropout masks.
      for (const key of ["dropoutMask", "recurrentDropoutMask"] as const) {
        const mask = this.cell[key];
        if (mask != null) tf.dispose(mask);
        this.cell[key] = null as unknown as tf.Tensor;
      }
      const { mask, training, initialState } = kwargs ?? {};
      return super.call(inputs, { mask, training, initialState });
    });
  }

  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    return new cls(config);
  }
}

tf.serialization.registerClass(GRUCell);
tf.serialization.registerClass(GRU);
