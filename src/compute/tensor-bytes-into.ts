// Reads a tensor's bytes straight into the caller's memory where the native backend allows it.
// tfjs reads (`data()`, `dataSync()`) give each call a fresh ArrayBuffer: allocated, copied into and,
// on this VM, page-faulted in (a 100 MB tensor read in 4 MB pieces: 38-95 ms, against 6-8 ms for
// the same bytes copied into one reused buffer). The provisioned tfjs-node addon carries
// `tensorDataInto` (native/tfjs-node-additions, built in by scripts/provision-native.mjs).
import * as tf from "@tensorflow/tfjs";

interface NativeBinding {
  tensorDataInto?: (tensorId: number, byteOffset: number, into: Uint8Array) => number;
}

/** What tfjs-node keeps per tensor: values still in JavaScript, or the id of its TensorFlow tensor. */
interface NativeTensorEntry {
  id: number;
  values?: ArrayLike<number> | Uint8Array | null;
}

interface NativeBackend {
  binding?: NativeBinding;
  tensorMap?: { get(dataId: object): NativeTensorEntry | undefined };
}

/** Whether the active backend can copy tensor bytes into given memory. */
export function canReadTensorBytesInto(): boolean {
  const backend = tf.backend() as unknown as NativeBackend;
  return typeof backend.binding?.tensorDataInto === "function" && typeof backend.tensorMap?.get === "function";
}

/**
 * Copies bytes [byteOffset, byteOffset + into.byteLength) of `t` into `into`; false (nothing
 * copied) when the backend cannot, and the caller reads another way. Throws if the bytes are not
 * all in the tensor.
 */
export function readTensorBytesInto(t: tf.Tensor, byteOffset: number, into: Uint8Array): boolean {
  const backend = tf.backend() as unknown as NativeBackend;
  const copy = backend.binding?.tensorDataInto;
  const entry = backend.tensorMap?.get(t.dataId);
  if (!copy || !entry) return false;
  // tfjs-node keeps the values of a tensor made from JavaScript until an op first uses it.
  if (entry.values && ArrayBuffer.isView(entry.values)) {
    const { buffer, byteOffset: start, byteLength } = entry.values;
    if (byteOffset < 0 || byteOffset + into.byteLength > byteLength) {
      throw new RangeError(
        `bytes [${byteOffset}, ${byteOffset + into.byteLength}) are outside the tensor's ${byteLength}`,
      );
    }
    into.set(new Uint8Array(buffer, start + byteOffset, into.byteLength));
    return true;
  }
  if (entry.id < 0) return false;
  copy(entry.id, byteOffset, into);
  return true;
}
