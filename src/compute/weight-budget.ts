// Counts the weights TensorFlow.js creates while it builds a model, and refuses the one that would
// take the model over the server's memory budget before that weight is allocated. A sequential
// spec is sized exactly before building (spec-size.ts), but what a Keras JSON topology or a custom
// layer holds is only known as tfjs-layers builds it: every layer, whatever its kind or wiring,
// creates its weights through Layer.addWeight, so that is where they are counted.
import * as tf from "@tensorflow/tfjs";
import { Code, ModelbayError } from "../errors.js";

/** Device bytes per weight element of a trainable model: float32, plus two optimizer slots (Adam). */
const BYTES_PER_TRAINABLE_ELEMENT = 4 * 3;

type AddWeight = (this: tf.layers.Layer, name: string, shape: number[], ...rest: unknown[]) => tf.LayerVariable;

let counting: WeightBudget | undefined;
let installed = false;

/** Wraps Layer.addWeight once per thread; outside a budget's run() it only passes the call on. */
function install(): void {
  if (installed) return;
  installed = true;
  const proto = tf.layers.Layer.prototype as unknown as { addWeight: AddWeight };
  const addWeight = proto.addWeight;
  proto.addWeight = function (this: tf.layers.Layer, name, shape, ...rest) {
    const budget = counting;
    budget?.admit(this.name, name, shape);
    const weight = addWeight.call(this, name, shape, ...rest);
    budget?.created.push(weight.read() as tf.Variable);
    return weight;
  };
}

/** The elements of a shape, or undefined for one tfjs-layers will refuse itself. */
function elementsOf(shape: unknown): number | undefined {
  if (!Array.isArray(shape)) return undefined;
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) return undefined;
    n *= d;
  }
  return n;
}

export class WeightBudget {
  private elements = 0;
  /** The weights created under this budget, so that a build that fails half way can free them. */
  readonly created: tf.Variable[] = [];

  /** `maxBytes`: the whole memory budget (--max-session-bytes); undefined counts nothing. */
  constructor(private readonly maxBytes: number | undefined) {
    install();
  }

  /**
   * Runs `build` with this budget counting the weights it creates. Only the synchronous part of
   * `build` is counted: tfjs-layers creates a model's weights synchronously, also inside the async
   * modelFromJSON (before its first await), and a device thread may start another build at an await.
   */
  run<T>(build: () => T): T {
    const outer = counting;
    counting = this;
    try {
      return build();
    } finally {
      counting = outer;
    }
  }

  admit(layer: string, weight: string, shape: unknown): void {
    const n = elementsOf(shape);
    if (this.maxBytes === undefined || n === undefined) return;
    this.elements += n;
    const bytes = this.elements * BYTES_PER_TRAINABLE_ELEMENT;
    if (bytes > this.maxBytes) {
      throw new ModelbayError(
        Code.RESOURCE_EXHAUSTED,
        `the model needs at least ${bytes} bytes of device memory (weights and two optimizer slots each, counted up to layer "${layer}" weight "${weight}" of shape [${(shape as number[]).join(", ")}]), more than the whole budget of ${this.maxBytes} (--max-session-bytes)`,
      );
    }
  }

  /** Frees what a failed build created and did not free itself. */
  releaseCreated(): void {
    for (const variable of this.created.splice(0)) {
      // A model disposed on the way out has freed its own weights already.
      if (!variable.isDisposed) variable.dispose();
    }
  }
}
