// A checkpoint's files from a state pinned on the device: the small JSON files at once, and
// weights.bin / optimizer.bin streamed out of the device in slices while they are written.
import type { StateCapture } from "../compute/engine.js";
import { elementCount, type TypedData } from "../compute/tensor-data.js";
import { type CheckpointHeader, checkpointMetadataFiles } from "./checkpoint-codec.js";
import { inMemoryFile, type StreamedFile } from "./checkpoint-store.js";

// Tensors leave the device in slices of this many elements (16 MB of float32): each slice is a short
// pause between training steps rather than one long one for the whole state.
const SLICE_ELEMENTS = 1 << 22;
// Slices requested ahead of the one being written, so device reads, hashing and disk writes overlap.
const READ_AHEAD = 3;

type Group = "weights" | "optimizer";

/** The tensors of one .bin file, read a slice at a time, several slices ahead. */
function groupBytes(capture: StateCapture, group: Group): () => AsyncGenerator<Uint8Array> {
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
    const read = (i: number) => {
      const slice = slices[i];
      if (!slice) return undefined;
      const pending = capture.read(slice.index, slice.start, slice.count);
      // A prefetched slice may be abandoned when the write fails; its failure is not news then.
      pending.catch(() => undefined);
      return pending;
    };
    const ahead = Array.from({ length: READ_AHEAD }, (_, i) => read(i));
    for (let i = 0; ahead[0]; i++) {
      const data = await (ahead.shift() as Promise<TypedData>);
      ahead.push(read(i + READ_AHEAD));
      yield new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
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
