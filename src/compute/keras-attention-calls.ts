// Calls of Keras' attention layers (KERAS_ATTENTION_CLASSES) as TensorFlow.js can make them. Keras
// writes what a call passed by keyword beside its tensors: Keras 3 `{"args": [q, v], "kwargs":
// {"use_causal_mask": true}}`, Keras 2 `[["q", 0, 0, {"value": ["v", 0, 0]}]]`. TensorFlow.js takes
// only the listed tensors, and gives a layer no keyword arguments when it runs the model. So the
// query, value and key go into the call's tensors in that order (a repeat left out), and
// `use_causal_mask` into the layer's config. An explicit attention_mask tensor or returned scores are refused in words.
import { Code, ModelbayError } from "../errors.js";
import { isJsonObject } from "../json-object.js";

type Json = Record<string, unknown>;

/** The order Keras' call takes them in. */
const TENSOR_ARGUMENTS = ["query", "value", "key"] as const;

const isKeras3Tensor = (v: unknown) => isJsonObject(v) && v.class_name === "__keras_tensor__";
const isKeras2Ref = (v: unknown) => Array.isArray(v) && typeof v[0] === "string" && typeof v[1] === "number";

/**
 * Query, value and key with the repeats left out: a value that is the query (self-attention), a
 * key that is the value. TensorFlow.js' executor frees a tensor one layer takes twice after that
 * layer, before the others that take it; the attention layers read one input as all three.
 */
function withoutRepeats<T>(tensors: T[], same: (a: T, b: T) => boolean): T[] {
  const [query, value, key] = tensors;
  if (query === undefined || value === undefined) return tensors;
  if (key !== undefined && !same(key, value)) return tensors;
  return same(value, query) ? [query] : [query, value];
}

const keras3Source = (t: unknown) =>
  JSON.stringify(isJsonObject(t) && isJsonObject(t.config) ? t.config.keras_history : t);
const keras2Source = (r: unknown) => JSON.stringify((r as unknown[]).slice(0, 3));

/** Refuses what modelbay does not compute; returns use_causal_mask. */
function checkedKeywords(layer: string, kwargs: Json): boolean {
  const refuse = (what: string) =>
    new ModelbayError(Code.INVALID_ARGUMENT, `spec.keras_json: ${layer} is called with ${what}`);
  if (kwargs.attention_mask != null) {
    throw refuse(
      "an attention_mask tensor, which modelbay does not take; it masks by use_causal_mask and by its inputs' masks (an Embedding's mask_zero)",
    );
  }
  if (kwargs.return_attention_scores === true) {
    throw refuse("return_attention_scores, which modelbay does not return");
  }
  return kwargs.use_causal_mask === true;
}

/** A Keras 3 call with its keyword tensors among its arguments; and whether it is causal. */
function keras3Call(layer: string, node: Json): { node: Json; causal: boolean } {
  const kwargs = isJsonObject(node.kwargs) ? node.kwargs : {};
  // Attention takes its tensors as one list: [[query, value]].
  const args = (Array.isArray(node.args) ? node.args : []).flatMap((a) => (Array.isArray(a) ? a : [a]));
  const byKeyword = TENSOR_ARGUMENTS.slice(args.length)
    .map((k) => kwargs[k])
    .filter(isKeras3Tensor);
  const tensors = withoutRepeats([...args, ...byKeyword], (a, b) => keras3Source(a) === keras3Source(b));
  return { node: { ...node, args: tensors, kwargs: {} }, causal: checkedKeywords(layer, kwargs) };
}

/** A Keras 2 call: refs [layer, node, tensor, kwargs], the keyword tensors as refs of their own. */
function keras2Call(layer: string, node: unknown[]): { node: unknown[]; causal: boolean } {
  const refs = node.filter(Array.isArray) as unknown[][];
  const kwargs: Json = Object.assign({}, ...refs.map((r) => (isJsonObject(r[3]) ? r[3] : {})));
  const byKeyword = TENSOR_ARGUMENTS.slice(refs.length)
    .map((k) => kwargs[k])
    .filter(isKeras2Ref)
    .map((r) => [...(r as unknown[]).slice(0, 3), {}]);
  const tensors = withoutRepeats(
    [...refs.map((r) => [...r.slice(0, 3), {}]), ...byKeyword],
    (a, b) => keras2Source(a) === keras2Source(b),
  );
  return { node: tensors, causal: checkedKeywords(layer, kwargs) };
}

/** Keras' attention layers: MultiHeadAttention (src/compute/keras-attention.ts), Attention and AdditiveAttention (src/compute/keras-dot-attention.ts). */
export const KERAS_ATTENTION_CLASSES: ReadonlySet<unknown> = new Set([
  "MultiHeadAttention",
  "Attention",
  "AdditiveAttention",
]);

/** A layer config with its attention calls as TensorFlow.js makes them (any other layer as it is). */
export function attentionCallsForTfjs(layer: unknown): unknown {
  if (!isJsonObject(layer) || !KERAS_ATTENTION_CLASSES.has(layer.class_name) || !Array.isArray(layer.inbound_nodes)) {
    return layer;
  }
  const config = isJsonObject(layer.config) ? layer.config : {};
  const name = `${layer.class_name} "${String(layer.name ?? config.name)}"`;
  const calls = layer.inbound_nodes.map((n) =>
    isJsonObject(n) ? keras3Call(name, n) : Array.isArray(n) ? keras2Call(name, n) : { node: n, causal: false },
  );
  const causal = new Set(calls.map((c) => c.causal));
  if (causal.size > 1) {
    throw new ModelbayError(
      Code.INVALID_ARGUMENT,
      `spec.keras_json: ${name} is called both with and without use_causal_mask; modelbay takes one of them per layer`,
    );
  }
  return {
    ...layer,
    config: { ...config, use_causal_mask: causal.has(true) },
    inbound_nodes: calls.map((c) => c.node),
  };
}
