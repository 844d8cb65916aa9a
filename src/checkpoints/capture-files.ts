// A checkpoint's files from a state pinned on the device: the small JSON files at once, and
// weights.bin / optimizer.bin streamed out of the device in slices while they are written.
import type { StateCapture } from "../compute/engine.js";
import { BYTES_PER_ELEMENT, elementCount } from "../compute/tensor-data.js";
import { type CheckpointHeader, checkpointMetadataFiles } from "./checkpoint-codec.js";
import { inMemoryFile, type StreamedFile } from "./checkpoint-store.js";

// Tensors leave the device in slices of this many elements (4 MB of float32): each slice is a short
// pause between training steps rather than one long one for the whole state. Measured on a 300 MB
// state: 4 MB slices leave the device at ~1.9 GB/s, 16 MB ones at ~1.5 GB/s (each is a fresh
// allocation whose pages fault in; smaller ones reuse the heap), 1 MB ones at ~1.2 GB/s.
export const SLICE_ELEMENTS = 1 << 20;
// Slices requested ahead of the one being written, so device reads, hashing and disk writes overlap.
const READ_AHEAD = 3;
const MAX_BYTES_PER_ELEMENT = Math.max(...Object.values(BYTES_PER_ELEMENT));

export type Group = "weights" | "optimizer";

/**
 * The tensors of one .bin file, read a slice at a time, several slices ahead. Slices land in a ring
 * of shared buffers that the device thread fills in place; a yielded chunk stays valid until the
 * consumer asks for the next one (its buffer is reused for the slice READ_AHEAD further on).
 */
export function groupBytes(capture: StateCapture, group: Group): () => AsyncGenerator<Uint8Array> {
  return async function* () {
    const slices = capture.tensors.flatMap((t, index) => {
      if (t.group !== group) return [];
      const count = elementCount(t.shape);
      const out: { index: number; start: number; count: number }[] = [];
      for (let start = 0; start < count; start += SLICE_ELEMENTS) {
        out.push({ index, start, count: Math.min(SLICE_ELEMENTS, count - start) });
      }
      return out;
    });
    const largest = Math.max(0, ...slices.map((s) => s.count));
    const ring = Array.from(
      { length: Math.min(READ_AHEAD + 1, slices.length) },
      () => new Uint8Array(new SharedArrayBuffer(largest * MAX_BYTES_PER_ELEMENT)),
    );
    const read = (i: number) => {
      const slice = slices[i];
      if (!slice) return undefined;
      const pending = capture.read(slice.index, slice.start, slice.count, ring[i % ring.length] as Uint8Array);
      // A prefetched slice may be abandoned when the write fails; its failure is not news then.
      pending.catch(() => undefined);
      return pending;
    };
    const ahead = Array.from({ length: READ_AHEAD }, (_, i) => read(i));
    for (let i = 0; ahead[0]; i++) {
      const chunk = await (ahead.shift() as Promise<Uint8Array>);
      // Slice i - 1 is done with (the consumer asked for this one), so its buffer can be refilled.
      ahead.push(read(i + READ_AHEAD));
      yield chunk;
    }
  };
}

export function streamedCheckpointFiles(header: CheckpointHeader, capture: StateCapture): StreamedFile[] {
  const specs = (group: Group) =>
    capture.tensors.filter((t) => t.group === group).map(({ name, shape, dtype }) => ({ name, shape, dtype }));
  const [modelJson, optimizerJson, stateJson] = checkpointMetadataFiles(
    header,
    capture.topology,
    specs("weights"),
    specs("optimizer"),
  ).map((f) => inMemoryFile(f.path, f.data));
  return [
    modelJson as StreamedFile,
    { path: "weights.bin", chunks: groupBytes(capture, "weights") },
    optimizerJson as StreamedFile,
    { path: "optimizer.bin", chunks: groupBytes(capture, "optimizer") },
    stateJson as StreamedFile,
  ];
}
