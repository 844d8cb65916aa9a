/**
 * A Keras 3 graph operation (`x + inputs`, `keras.ops.mean(x, axis=1)`, `x[:, -1]`) as a layer of
 * the TensorFlow.js model. src/compute/keras3-topology.ts writes each one Keras saved as
 * {operation, settings (its constructor's), args and kwargs (its call's)}, where the call's tensors
 * are {"input": k}, the model's k-th input to this layer, and constants, slices and `...` are
 * spelled so that TensorFlow.js' renaming of keys and strings leaves them alone.
 *
 * TensorFlow.js asks a layer for its output shape; an operation is too varied to work it out
 * from rules, so it is found by running the operation on random inputs of two batch sizes. The
 * same runs check that each row of the output depends on its own row only: modelbay batches
 * callers' requests together and streams a large one in chunks, which a model mixing rows
 * (`mean(x, axis=0)`, `x @ x.T`) would answer differently. Such a model is refused when built.
 */
import * as tf from "@tensorflow/tfjs";
import { isJsonObject } from "../json-object.js";
import { KERAS_INDEX_OPERATIONS } from "./keras-index-operations.js";
import {
  type Args,
  KERAS_VALUE_OPERATIONS,
  type KerasOperationDef,
  type Operand,
  tfDtype,
} from "./keras-operations.js";
import { KERAS_SHAPE_OPERATIONS } from "./keras-shape-operations.js";
import { type Shape, shapesOf } from "./layer-inputs.js";

type Config = tf.serialization.ConfigDict;

/** Operations by a key that survives TensorFlow.js' renamings ("LogicalAnd", "logical_and", "logicalAnd"). */
const keyOf = (name: string) => name.replace(/_/g, "").toLowerCase();
const BY_CLASS = { ...KERAS_VALUE_OPERATIONS, ...KERAS_SHAPE_OPERATIONS, ...KERAS_INDEX_OPERATIONS };
const OPERATIONS = new Map<string, KerasOperationDef>(Object.entries(BY_CLASS).map(([n, d]) => [keyOf(n), d]));

/** The Keras class names of the operations modelbay computes. */
export const KERAS_OPERATION_NAMES: readonly string[] = Object.keys(BY_CLASS).sort();

/** The template's tensors and constants, with this call's inputs in place. */
function resolved(value: unknown, inputs: tf.Tensor[]): Operand {
  if (Array.isArray(value)) return value.map((v) => resolved(v, inputs));
  if (!isJsonObject(value)) return value as Operand;
  if (typeof value.input === "number") return inputs[value.input] as tf.Tensor;
  if ("constant" in value) return tf.tensor(value.constant as number[], undefined, tfDtype(value.dtype));
  if (Array.isArray(value.slice) || value.ellipsis === true) return value as Operand;
  throw new Error(`argument ${JSON.stringify(value)} is not understood`);
}

/** Keras' dtypes of the call's tensors, by input. */
function inputDtypes(value: unknown, found: Map<number, tf.DataType> = new Map()): Map<number, tf.DataType> {
  if (Array.isArray(value)) for (const v of value) inputDtypes(v, found);
  else if (isJsonObject(value)) {
    if (typeof value.input === "number") found.set(value.input, tfDtype(value.dtype ?? "float32"));
    else for (const v of Object.values(value)) inputDtypes(v, found);
  }
  return found;
}

/** Whether two outputs agree, NaN with NaN (|a - b| <= 1e-5 + 1e-4 |b|). */
function agree(a: tf.Tensor, b: tf.Tensor): boolean {
  if (a.shape.join() !== b.shape.join()) return false;
  const x = a.dataSync();
  const y = b.dataSync();
  for (let i = 0; i < x.length; i++) {
    const u = Number(x[i]);
    const v = Number(y[i]);
    if (u === v || (Number.isNaN(u) && Number.isNaN(v))) continue;
    if (!(Math.abs(u - v) <= 1e-5 + 1e-4 * Math.abs(v))) return false;
  }
  return true;
}

export class KerasOperation extends tf.layers.Layer {
  static readonly className = "KerasOperation";
  private readonly operation: string;
  private readonly definition: KerasOperationDef;
  private readonly settings: Args;
  private readonly callArgs: unknown[];
  private readonly callKwargs: Record<string, unknown>;
  private readonly dtypes: Map<number, tf.DataType>;

  constructor(config: Config) {
    super(config);
    this.operation = String(config.operation);
    const definition = OPERATIONS.get(keyOf(this.operation));
    if (!definition) {
      throw new Error(
        `Keras operation "${this.operation}" is not one modelbay computes; it computes ${KERAS_OPERATION_NAMES.join(", ")}`,
      );
    }
    this.definition = definition;
    this.settings = (isJsonObject(config.settings) ? config.settings : {}) as Args;
    this.callArgs = Array.isArray(config.args) ? config.args : [];
    this.callKwargs = isJsonObject(config.kwargs) ? config.kwargs : {};
    if (this.callArgs.length > definition.params.length && !this.variadic) {
      throw new Error(
        `Keras operation "${this.operation}" takes ${definition.params.length} arguments, got ${this.callArgs.length}`,
      );
    }
    this.dtypes = inputDtypes([this.callArgs, this.callKwargs]);
  }

  /** Keras 3 operations hand on no mask. */
  override computeMask(): tf.Tensor {
    // TensorFlow.js takes null for "no mask".
    return null as unknown as tf.Tensor;
  }

  /** Whether the call's last parameter takes the rest of its arguments (`*operands`). */
  private get variadic(): boolean {
    return this.definition.params.at(-1)?.startsWith("*") === true;
  }

  private run(inputs: tf.Tensor[]): tf.Tensor {
    const named: Args = {};
    const params = this.definition.params;
    params.forEach((p, i) => {
      if (p.startsWith("*")) named[p] = this.callArgs.slice(i).map((a) => resolved(a, inputs));
      else if (i < this.callArgs.length) named[p] = resolved(this.callArgs[i], inputs);
    });
    for (const [k, v] of Object.entries(this.callKwargs)) named[k] = resolved(v, inputs);
    if (!this.definition.constant) return this.definition.run(named, this.settings);
    // TensorFlow.js has no gradient for comparisons; Keras' is zero.
    const once = tf.customGrad(() => ({
      value: this.definition.run(named, this.settings),
      gradFunc: () => inputs.map((x) => tf.zeros(x.shape)),
    }));
    return inputs.length > 0 ? once(...inputs) : this.definition.run(named, this.settings);
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    // Every TensorFlow.js layer output is declared float32, and a model's outputs are served as
    // declared: a model ending in a comparison must not answer in booleans. (TensorFlow.js casts
    // what it hands on to later layers when it predicts, but not the model's own output.)
    return tf.tidy(() => {
      const out = this.run(Array.isArray(inputs) ? inputs : [inputs]);
      return out.dtype === "float32" ? out : tf.cast(out, "float32");
    });
  }

  /** Random inputs of these shapes: the batch (axis 0) `batch` rows, any other free axis `free` long. */
  private trialInputs(shapes: Shape[], batch: number, free: number): tf.Tensor[] {
    return shapes.map((shape, k) => {
      const concrete = shape.map((d, i) => (i === 0 ? batch : (d ?? free)));
      const dtype = this.dtypes.get(k) ?? "float32";
      if (dtype === "float32") return tf.randomNormal(concrete, 0, 1, "float32", 7 + k);
      const ints = tf.randomUniform(concrete, 0, 4, "int32", 7 + k);
      return dtype === "bool" ? tf.cast(ints, "bool") : ints;
    });
  }

  private refused(why: string): Error {
    return new Error(`Keras operation "${this.operation}" (layer "${this.name}") ${why}`);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shapes = shapesOf(inputShape);
    if (shapes.some((s) => s.length === 0 || s[0] !== null)) {
      throw this.refused("takes a tensor without a free batch axis (the first); modelbay serves batches of any size");
    }
    let shape: tf.Shape = [];
    tf.tidy(() => {
      const two = this.trialInputs(shapes, 2, 5);
      const out = this.run(two);
      if (out.rank === 0 || out.shape[0] !== 2) {
        throw this.refused(`gives shape [${out.shape}] for a batch of 2: the batch must stay the first axis`);
      }
      for (let row = 0; row < 2; row++) {
        const alone = this.run(two.map((x) => tf.slice(x, row, 1)));
        if (!agree(alone, tf.slice(out, row, 1))) {
          throw this.refused(
            "mixes the rows of a batch (a row's result depends on the other rows): modelbay answers each row on its own, batching callers' requests together and streaming large ones in chunks",
          );
        }
      }
      const other = this.run(this.trialInputs(shapes, 3, 7)).shape;
      shape = [null, ...out.shape.slice(1).map((d, i) => (other[i + 1] === d ? d : null))];
    });
    return shape;
  }

  override getConfig(): Config {
    return {
      ...super.getConfig(),
      operation: this.operation,
      settings: this.settings as tf.serialization.ConfigDictValue,
      args: this.callArgs as tf.serialization.ConfigDictValue,
      kwargs: this.callKwargs as tf.serialization.ConfigDictValue,
    };
  }
}

tf.serialization.registerClass(KerasOperation);
