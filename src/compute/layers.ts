// Turns domain layer specs into TensorFlow.js layers, including the reusable block layer
// (modelbay's custom layer: a named stack of layers that serializes with the model).
import * as tf from "@tensorflow/tfjs";
import type { BlockDefinition, LayerSpec } from "./model-spec.js";

type Shape = (number | null)[];

/** Seeds for successive layers, so that a seeded spec always initializes the same weights. */
export class SeedSequence {
  private next: number;
  constructor(private readonly base: number | undefined) {
    this.next = 0;
  }
  /** `{ seed }` for the next layer, or `{}` when unseeded (random initialization). */
  take(): { seed?: number } {
    if (this.base === undefined) return {};
    return { seed: (this.base + 7919 * this.next++) >>> 0 };
  }
}

interface LayerContext {
  blocks: readonly BlockDefinition[];
  seeds: SeedSequence;
  name: string;
  inputShape?: number[];
  /** The caller overwrites every weight next (a restore): zeros cost a fill, random draws cost far more. */
  weightsFollow?: boolean;
}

export function createLayer(spec: LayerSpec, ctx: LayerContext): tf.layers.Layer {
  const common = { name: ctx.name, ...(ctx.inputShape ? { inputShape: ctx.inputShape } : {}) };
  switch (spec.kind) {
    case "dense":
      return tf.layers.dense({
        ...common,
        units: spec.units,
        activation: spec.activation,
        useBias: spec.useBias,
        kernelInitializer: ctx.weightsFollow
          ? tf.initializers.zeros()
          : tf.initializers.glorotUniform(ctx.seeds.take()),
      });
    case "dropout":
      return tf.layers.dropout({ ...common, rate: spec.rate, ...ctx.seeds.take() });
    case "block":
      return new BlockLayer({
        ...common,
        blockName: spec.block,
        blocks: [...ctx.blocks],
        ...ctx.seeds.take(),
        ...(ctx.weightsFollow ? { weightsFollow: true } : {}),
      });
  }
}

interface BlockLayerArgs {
  name?: string;
  inputShape?: number[];
  blockName: string;
  /** Every block definition the block may refer to (itself and the blocks it places). */
  blocks: BlockDefinition[];
  seed?: number;
  weightsFollow?: boolean;
}

/** A layer that applies the layers of a BlockDefinition in order; each instance owns its weights. */
export class BlockLayer extends tf.layers.Layer {
  static readonly className = "ModelbayBlock";
  private readonly inner: tf.layers.Layer[];
  private readonly args: BlockLayerArgs;

  constructor(args: BlockLayerArgs) {
    super(args);
    this.args = args;
    const definition = args.blocks.find((b) => b.name === args.blockName);
    if (!definition) throw new Error(`block "${args.blockName}" is not defined`);
    const seeds = new SeedSequence(args.seed ?? undefined);
    this.inner = definition.layers.map((spec, i) =>
      createLayer(spec, {
        blocks: args.blocks,
        seeds,
        name: `${this.name}__${spec.name ?? `${spec.kind}_${i}`}`,
        ...(args.weightsFollow ? { weightsFollow: true } : {}),
      }),
    );
  }

  /** The layers the block wraps, in order. */
  get layers(): readonly tf.layers.Layer[] {
    return this.inner;
  }

  override build(inputShape: Shape | Shape[]): void {
    let shape = inputShape;
    for (const layer of this.inner) {
      // Each inner layer builds under its own name scope, so weight names stay unique.
      tf.tidy(() => {
        layer.apply(tf.zeros((shape as Shape).map((d) => d ?? 1)));
      });
      shape = layer.computeOutputShape(shape);
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return this.inner.reduce<Shape | Shape[]>((shape, layer) => layer.computeOutputShape(shape), inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    return tf.tidy(() => {
      let x = Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
      for (const layer of this.inner) x = layer.apply(x, kwargs) as tf.Tensor;
      return x;
    });
  }

  override get trainableWeights(): tf.LayerVariable[] {
    return this.trainable ? this.inner.flatMap((l) => l.trainableWeights) : [];
  }

  override get nonTrainableWeights(): tf.LayerVariable[] {
    const inner = this.inner.flatMap((l) => l.nonTrainableWeights);
    return this.trainable ? inner : [...this.inner.flatMap((l) => l.trainableWeights), ...inner];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      blockName: this.args.blockName,
      blocks: this.args.blocks as unknown as tf.serialization.ConfigDictValue,
      seed: this.args.seed ?? null,
    };
  }
}

tf.serialization.registerClass(BlockLayer);
