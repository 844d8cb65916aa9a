// Raw tensor bytes sit in their request wherever the encoder put them: for float32 rows, 3 of 4
// request layouts leave them off a multiple of 4, and a typed array cannot view them there. Copying
// them out cost 30-45 ms for 32 MB in one task on the RPC thread (fresh pages, then a copy that
// goes a byte at a time in shared memory). A field's bytes are preceded by its own tag and length,
// which decoding has already read and nothing views, so the bytes can instead move down over those
// few bytes, in place: ~3 ms for 32 MB (see shared-memory.ts).
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { moveWithin } from "../shared-memory.js";

/** Per buffer, the offsets whose bytes were moved and the views of where they went. */
const moved = new WeakMap<ArrayBufferLike, Map<number, Uint8Array>>();

/**
 * `bytes`, the contents of a decoded protobuf bytes field, at an offset that is a multiple of
 * `alignment`, moved there within their message's buffer if need be: down by less than
 * `alignment`, over their own field's tag and length. Undefined when they cannot move: the length
 * is not right before them as an encoder writes it, tag and length are fewer bytes than the move,
 * or the buffer is not one whose bytes move fast (a large request's; see grpc-message-assembly.ts).
 * Asked again for the same bytes it answers the same view: the first one no longer holds them.
 */
export function alignInPlace<B extends Uint8Array>(bytes: B, alignment: number): B | undefined {
  const { buffer, byteOffset: offset, byteLength: length } = bytes;
  const shift = offset % alignment;
  if (shift === 0) return bytes;
  const done = moved.get(buffer)?.get(offset);
  if (done?.byteLength === length) return done as B;
  // The length as encoders write it (the shortest varint).
  const header = new BinaryWriter().uint32(length).finish();
  // The length's bytes, and at least one byte of tag before them.
  if (shift > header.length + 1 || offset < header.length + 1) return undefined;
  const before = new Uint8Array(buffer, offset - header.length, header.length);
  if (header.some((b, i) => before[i] !== b)) return undefined;
  if (!moveWithin(buffer, offset - shift, offset, length)) return undefined;
  const view = (
    Buffer.isBuffer(bytes)
      ? Buffer.from(buffer, offset - shift, length)
      : new Uint8Array(buffer, offset - shift, length)
  ) as B;
  const offsets = moved.get(buffer) ?? new Map<number, Uint8Array>();
  offsets.set(offset, view);
  moved.set(buffer, offsets);
  return view;
}
