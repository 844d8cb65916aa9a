// TensorFlow.js builds a functional model's config by making each layer call (an inbound node) once
// the calls it takes tensors from exist, and repeats until every call is made: forever, holding the
// device, when one never can be (a call of a layer the config lacks, of a node that never exists,
// calls waiting on each other, or an empty call upstream). This runs the same schedule on the
// config alone, first, and names the call that could never be made.
import { Code, ModelbayError } from "../errors.js";
import { isJsonObject } from "../json-object.js";
import { KERAS_MODEL_CLASSES } from "./keras3-topology.js";

type Json = Record<string, unknown>;

/** Whether a layer has a node before any call to it: an InputLayer, or a model with its own input. */
function hasOwnNode(layer: Json): boolean {
  if (layer.class_name === "InputLayer") return true;
  if (!KERAS_MODEL_CLASSES.has(layer.class_name as string)) return false;
  if (layer.class_name !== "Sequential") return true;
  const config = isJsonObject(layer.config) ? layer.config : {};
  const first = Array.isArray(config.layers) ? config.layers[0] : undefined;
  const firstConfig = isJsonObject(first) && isJsonObject(first.config) ? first.config : {};
  return (
    (isJsonObject(first) && first.class_name === "InputLayer") ||
    ["batch_input_shape", "input_shape", "batch_shape"].some(
      (k) => firstConfig[k] !== undefined && firstConfig[k] !== null,
    )
  );
}

const refused = (what: string) => new ModelbayError(Code.INVALID_ARGUMENT, `spec.keras_json: ${what}`);

/** Throws INVALID_ARGUMENT if TensorFlow.js could never make every call of this model (or a nested one). */
export function checkKerasGraph(topology: unknown): void {
  if (!isJsonObject(topology)) return;
  const config = isJsonObject(topology.config) ? topology.config : undefined;
  const layers = config && Array.isArray(config.layers) ? config.layers.filter(isJsonObject) : [];
  for (const layer of layers) if (KERAS_MODEL_CLASSES.has(layer.class_name as string)) checkKerasGraph(layer);
  if (!layers.some((l) => Array.isArray(l.inbound_nodes))) return;

  // Calls name the layers they take tensors from by the layer entry's "name", as TensorFlow.js looks them up.
  const name = (l: Json) => String(l.name ?? (isJsonObject(l.config) ? l.config.name : undefined));
  const nodes = new Map(layers.map((l) => [name(l), hasOwnNode(l) ? 1 : 0]));
  let waiting = layers.flatMap((l) =>
    (Array.isArray(l.inbound_nodes) ? l.inbound_nodes : []).map((call) => ({ layer: name(l), call })),
  );
  const ready = (call: unknown) =>
    Array.isArray(call) &&
    call.every(
      (ref) =>
        Array.isArray(ref) && typeof ref[1] === "number" && (nodes.get(String(ref[0])) ?? 0) > (ref[1] as number),
    );
  // One pass makes every call whose inputs exist, as TensorFlow.js does, until a pass makes none.
  for (let made = true; made && waiting.length > 0; ) {
    made = false;
    waiting = waiting.filter(({ layer, call }) => {
      if (!ready(call)) return true;
      made = true;
      // A call with no inputs makes no node (TensorFlow.js skips it).
      if ((call as unknown[]).length > 0) nodes.set(layer, (nodes.get(layer) ?? 0) + 1);
      return false;
    });
  }
  const stuck = waiting[0];
  if (stuck) {
    const refs = Array.isArray(stuck.call) ? stuck.call : [];
    const missing = refs.find((ref) => !ready([ref]));
    throw refused(
      `layer "${stuck.layer}" is called on ${Array.isArray(missing) ? `output ${missing[2]} of call ${missing[1]} of "${missing[0]}"` : JSON.stringify(missing ?? stuck.call)}, which never exists`,
    );
  }
}
