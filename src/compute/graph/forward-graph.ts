// A Dense stack's forward pass as one TensorFlow graph fed its weights on each call: one
// TF_SessionRun per predict, where the eager ops cost ~35 us each (measured: one row ~30 us against
// ~175 us with five eager ops). The weights stay where they are (the tfjs variables), so nothing
// needs syncing; the session holds only the ops, and models of the same shape share it.
import type * as tf from "@tensorflow/tfjs";
import type { DenseLayerPlan, DenseStack } from "../dense-stack.js";
import { denseForwardNodes } from "./dense-nodes.js";
import { graphBuilder, type NodeDef } from "./graph-def.js";
import {
  floatInfo,
  graphDir,
  loadGraphSession,
  type SessionBackend,
  sessionBackend,
  type TensorInfo,
} from "./graph-session.js";

const TAG = "serve";

interface ForwardGraph {
  nodes: NodeDef[];
  /** Feed names: the input rows, then each variable in the stack's order. */
  feeds: string[];
  output: string;
}

function forwardGraph(layers: readonly DenseLayerPlan[]): ForwardGraph {
  const { nodes, node, placeholder } = graphBuilder();
  const x = placeholder("x", [-1, (layers[0] as DenseLayerPlan).inputDim]);
  const params = layers.map((l, i) => ({
    kernel: placeholder(`w${i}`, [l.inputDim, l.units]),
    ...(l.useBias ? { bias: placeholder(`b${i}`, [l.units]) } : {}),
  }));
  const { outputs } = denseForwardNodes(node, layers, x, params);
  return {
    nodes,
    feeds: [x, ...params.flatMap((p) => (p.bias ? [p.kernel, p.bias] : [p.kernel]))],
    output: outputs[outputs.length - 1] as string,
  };
}

/** Sessions by graph directory (one per distinct stack shape), with how many models use each. */
const sessions = new Map<string, { id: number; users: number }>();

/** How many forward sessions are loaded (for tests: same-shaped models share one). */
export const loadedForwardSessions = () => sessions.size;

export interface GraphForward {
  /** The stack's output for `input` (float32 rows), as a tensor the caller owns. */
  run(input: tf.Tensor): tf.Tensor;
  /** Lets go of the shared session; the last user closes it. */
  release(): void;
}

/** The stack's forward pass through a session, or why it cannot have one (then eager ops serve). */
export function graphForward(stack: DenseStack): GraphForward | string {
  const backend: SessionBackend | string = sessionBackend();
  if (typeof backend === "string") return backend;
  const graph = forwardGraph(stack.layers);
  const dir = graphDir(graph.nodes, TAG);
  let shared = sessions.get(dir);
  if (!shared) {
    try {
      shared = { id: loadGraphSession(backend, dir, TAG), users: 0 };
    } catch (err) {
      return `the forward graph did not load: ${err instanceof Error ? err.message : String(err)}`;
    }
    sessions.set(dir, shared);
  }
  shared.users++;
  const session = shared;
  const weightInfos: TensorInfo[] = stack.variables.map((v, i) =>
    floatInfo(graph.feeds[i + 1] as string, v.shape as number[]),
  );
  let released = false;
  return {
    run(input) {
      const infos = [floatInfo(graph.feeds[0] as string, [...input.shape]), ...weightInfos];
      const [output] = backend.runSavedModel(session.id, [input, ...stack.variables.map((v) => v.read())], infos, [
        graph.output,
      ]);
      return output as tf.Tensor;
    },
    release() {
      if (released) return;
      released = true;
      if (--session.users > 0) return;
      backend.deleteSavedModel(session.id);
      sessions.delete(dir);
    },
  };
}
