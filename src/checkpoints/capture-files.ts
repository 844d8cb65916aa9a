// A checkpoint's files from a state pinned on the device: the small JSON files at once, and
// weights.bin / optimizer.bin streamed out of the device in chunks while they are written.
import type { StateCapture } from "../compute/engine.js";
import { BYTES_PER_ELEMENT } from "../compute/tensor-data.js";
import { readAhead } from "../read-ahead.js";
import { alignedSharedBuffer } from "../shared-memory.js";
import { binLayout, type CheckpointHeader, checkpointMetadataFiles } from "./checkpoint-codec.js";
import { inMemoryFile, type StreamedFile } from "./checkpoint-store.js";

// A file leaves the device in chunks of this many bytes, chunk k holding the file's bytes
// [k * CHUNK_BYTES, (k + 1) * CHUNK_BYTES): every chunk but the last is whole and starts on a
// multiple of it in the file, and the ring holding them is page-aligned, so the store can write
// them past the page cache (O_DIRECT). On a 301 MB state 8 and 16 MB chunks commit no faster, and
// 1 MB slices left the device slower (each piece is a message to the device thread and an op).
export const CHUNK_BYTES = 4 * 2 ** 20;
// Chunks requested ahead of the one being written, so device reads, hashing and disk writes overlap.
const READ_AHEAD = 3;

export type Group = "weights" | "optimizer";

// A piece of this index is zero bytes: the padding between two aligned tensors.
const ZEROS = -1;

/** Bytes [start, end) of tensor `index` (as its .bin file lays it out), landing at `at` in a chunk. */
interface Piece {
  index: number;
  start: number;
  end: number;
  at: number;
}

/** The pieces of each chunk of a group's file: its tensors where binLayout puts them. */
function chunkPlan(capture: StateCapture, group: Group): Piece[][] {
  const chunks: Piece[][] = [];
  const place = (index: number, fileOffset: number, bytes: number) => {
    for (let start = 0; start < bytes; ) {
      const position = fileOffset + start;
      const chunk = Math.floor(position / CHUNK_BYTES);
      const end = Math.min(bytes, start + CHUNK_BYTES - (position % CHUNK_BYTES));
      chunks[chunk] ??= [];
      chunks[chunk].push({ index, start, end, at: position % CHUNK_BYTES });
      start = end;
    }
  };
  const inGroup = capture.tensors.flatMap((t, i) => (t.group === group ? [i] : []));
  const { order, layout } = binLayout(
    `${group}.bin`,
    inGroup.map((i) => capture.tensors[i] as StateCapture["tensors"][number]),
  );
  const indices = order.map((k) => inGroup[k] as number);
  let end = 0;
  indices.forEach((index, k) => {
    const { offset, bytes } = layout[k] as { offset: number; bytes: number };
    place(ZEROS, end, offset - end);
    place(index, offset, bytes);
    end = offset + bytes;
  });
  return chunks;
}

/** Bytes in a chunk: where its last piece ends. */
function chunkLength(pieces: readonly Piece[]): number {
  const last = pieces[pieces.length - 1];
  return last ? last.at + (last.end - last.start) : 0;
}

/** Reads one piece into `chunk` at its place; through a scratch copy if it cuts an element in two. */
async function readPiece(capture: StateCapture, p: Piece, chunk: Uint8Array): Promise<void> {
  // Ring buffers are reused: padding is written, never left as whatever the slot held.
  if (p.index === ZEROS) {
    chunk.fill(0, p.at, p.at + (p.end - p.start));
    return;
  }
  const size = BYTES_PER_ELEMENT[(capture.tensors[p.index] as StateCapture["tensors"][number]).dtype];
  const first = Math.floor(p.start / size);
  const count = Math.ceil(p.end / size) - first;
  if (p.start % size === 0 && p.end % size === 0) {
    await capture.read(p.index, first, count, chunk.subarray(p.at, p.at + (p.end - p.start)));
    return;
  }
  // Only after a tensor of an odd number of one-byte elements (bool) do element and chunk edges differ.
  const scratch = new Uint8Array(count * size);
  await capture.read(p.index, first, count, scratch);
  chunk.set(scratch.subarray(p.start - first * size, p.end - first * size), p.at);
}

// Ring buffers idle between commits, by size. Page-aligned shared memory is freed only once every
// thread that saw it (the device and hash threads) has collected its handle, and V8 does not count
// it toward starting a collection: with a fresh ring per file, a process checkpointing a 301 MB
// model in a loop grew by ~16 MB per commit (800 MB after 60). Reused, it stays at one ring per
// file being written; idle ones beyond this many bytes are let go.
const MAX_IDLE_RING_BYTES = 64 * 2 ** 20;
const idleRing = new Map<number, SharedArrayBuffer[]>();
let idleRingBytes = 0;

function takeRingBuffer(bytes: number): SharedArrayBuffer {
  const buffer = idleRing.get(bytes)?.pop();
  if (!buffer) return alignedSharedBuffer(bytes);
  idleRingBytes -= bytes;
  return buffer;
}

function returnRingBuffers(buffers: readonly SharedArrayBuffer[]): void {
  for (const buffer of buffers) {
    if (idleRingBytes + buffer.byteLength > MAX_IDLE_RING_BYTES) continue;
    const idle = idleRing.get(buffer.byteLength) ?? [];
    idle.push(buffer);
    idleRing.set(buffer.byteLength, idle);
    idleRingBytes += buffer.byteLength;
  }
}

/**
 * The bytes of one .bin file, read out of the device a chunk at a time, READ_AHEAD chunks ahead.
 * Chunks land in a ring of page-aligned shared buffers that the device thread fills in place; a
 * yielded chunk stays valid until the consumer asks for the next one (its buffer is then refilled
 * for a chunk further on).
 */
export function groupBytes(capture: StateCapture, group: Group): () => AsyncGenerator<Uint8Array> {
  return async function* () {
    const chunks = chunkPlan(capture, group);
    const ring: SharedArrayBuffer[] = [];
    try {
      yield* readAhead(
        chunks.length,
        READ_AHEAD,
        // A file of one chunk needs no more room than its bytes.
        chunks.length > 1 ? CHUNK_BYTES : chunkLength(chunks[0] ?? []),
        async (k, slot) => {
          const pieces = chunks[k] as Piece[];
          await Promise.all(pieces.map((p) => readPiece(capture, p, slot)));
          return slot.subarray(0, chunkLength(pieces));
        },
        undefined,
        (bytes) => {
          const buffer = takeRingBuffer(bytes);
          ring.push(buffer);
          return buffer;
        },
      );
    } finally {
      // Every read into the ring has ended (readAhead waits for them) and the writer is done with
      // the chunks it was given (it writes and hashes each before asking for the next).
      returnRingBuffers(ring);
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
