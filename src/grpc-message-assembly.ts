// How incoming gRPC messages are put together from HTTP/2 DATA frames. grpc-js keeps every frame of
// a message and joins them with one Buffer.concat once the last has come: for a 40 MB PredictStream
// request that is one 34-38 ms task on the RPC thread (fresh pages for 40 MB, then the copy), and
// every health check and Predict waits behind it. Each message's 5-byte prefix gives its length, so
// the message's buffer is allocated when the prefix is read and each frame is copied into it as it
// arrives: the same bytes copied once, in ~16 KB steps between other calls (grpc-java went the
// same way: grpc/grpc-java#2151), and the frames are released at once instead of held to the end.
// Large messages are assembled in shared memory (SHARED_FROM), where their raw tensors can also be
// moved to an aligned offset in place (api/align-in-place.ts).
// grpc-js has no hook for this, so the decoder's `write` is replaced; a self-check against
// grpc-js's own decoder guards against a grpc-js whose decoder no longer fits, and
// MODELBAY_GRPC_DECODER=grpc-js keeps grpc-js's own.
import { createRequire } from "node:module";
import { alignedSharedBuffer, SMALL_SHARED_BYTES } from "./shared-memory.js";

/** grpc-js's decoder as far as it is used here: built with the largest message accepted (-1: any). */
interface Decoder {
  maxReadMessageLength: number;
  write(data: Buffer): Buffer[];
}
type DecoderClass = { new (maxReadMessageLength: number): Decoder; prototype: Decoder };

/** The gRPC length prefix before each message: a compressed flag and a big-endian length. */
export const PREFIX_BYTES = 5;
/**
 * Messages from this size up are assembled in shared memory: the views into them that a call hands
 * to a device thread (a Predict's rows, a stream's chunks, a Train's data) then cross as they are,
 * where views into a plain buffer are copied out first (a 32 MB Predict: one copy on the RPC thread).
 */
export const SHARED_FROM = SMALL_SHARED_BYTES;

/** A message being read: its prefix (flag and length) until complete, then its buffer. */
interface Assembly {
  prefix: Buffer;
  prefixRead: number;
  message: Buffer | undefined;
  filled: number;
}

const assemblies = new WeakMap<Decoder, Assembly>();

function assemblyOf(decoder: Decoder): Assembly {
  let assembly = assemblies.get(decoder);
  if (!assembly) {
    assembly = { prefix: Buffer.alloc(PREFIX_BYTES), prefixRead: 0, message: undefined, filled: 0 };
    assemblies.set(decoder, assembly);
  }
  return assembly;
}

/** The framed messages (prefix included, as grpc-js passes them on) that `data` completes: the decoder's `write`. */
export function writeInPlace(this: Decoder, data: Buffer): Buffer[] {
  const assembly = assemblyOf(this);
  const complete: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    if (!assembly.message) {
      const n = Math.min(PREFIX_BYTES - assembly.prefixRead, data.length - at);
      data.copy(assembly.prefix, assembly.prefixRead, at, at + n);
      assembly.prefixRead += n;
      at += n;
      if (assembly.prefixRead < PREFIX_BYTES) break;
      const length = assembly.prefix.readUInt32BE(1);
      const max = this.maxReadMessageLength;
      // grpc-js answers RESOURCE_EXHAUSTED with this message; checked before anything is allocated.
      if (max !== -1 && length > max) throw new Error(`Received message larger than max (${length} vs ${max})`);
      assembly.message =
        length >= SHARED_FROM
          ? Buffer.from(alignedSharedBuffer(PREFIX_BYTES + length), 0, PREFIX_BYTES + length)
          : Buffer.allocUnsafe(PREFIX_BYTES + length);
      assembly.prefix.copy(assembly.message, 0);
      assembly.filled = PREFIX_BYTES;
      assembly.prefixRead = 0;
    }
    const n = Math.min(assembly.message.length - assembly.filled, data.length - at);
    data.copy(assembly.message, assembly.filled, at, at + n);
    assembly.filled += n;
    at += n;
    if (assembly.filled === assembly.message.length) {
      complete.push(assembly.message);
      assembly.message = undefined;
    }
  }
  return complete;
}

/** Frames `messages` as gRPC does (compressed flag, default 0; big-endian length) into one stream of bytes. */
export function framed(messages: Buffer[], flags: readonly number[] = []): Buffer {
  return Buffer.concat(
    messages.flatMap((m, i) => {
      const prefix = Buffer.alloc(PREFIX_BYTES);
      prefix[0] = flags[i] ?? 0;
      prefix.writeUInt32BE(m.length, 1);
      return [prefix, m];
    }),
  );
}

/**
 * Whether `write` splits a stream the way `reference` does: messages of 0, 1 and 70,000 bytes, fed
 * in pieces that cut through prefixes and messages, and a message over the limit refused alike.
 */
function agrees(Decoder: DecoderClass, write: Decoder["write"], reference: Decoder["write"]): boolean {
  const stream = framed([Buffer.alloc(0), Buffer.from([7]), Buffer.alloc(70_000, 3), Buffer.from("end")]);
  const run = (w: Decoder["write"], limit: number): string => {
    const decoder = new Decoder(limit);
    const out: Buffer[] = [];
    try {
      for (let at = 0, step = 1; at < stream.length; at += step, step = step * 3 + 1) {
        out.push(...w.call(decoder, stream.subarray(at, at + step)));
      }
    } catch (e) {
      out.push(Buffer.from(`refused: ${(e as Error).message}`));
    }
    return Buffer.concat(out.flatMap((m) => [Buffer.from(`${m.length}:`), m])).toString("base64");
  };
  return run(write, -1) === run(reference, -1) && run(write, 1000) === run(reference, 1000);
}

export type MessageAssembly = "in-place" | "grpc-js";

let installed: MessageAssembly | undefined;

/**
 * Makes every grpc-js decoder in the process (servers' and clients') assemble messages in place,
 * unless MODELBAY_GRPC_DECODER=grpc-js or this grpc-js's decoder does not agree with the
 * replacement. Returns which assembly is in use; idempotent.
 */
export function assembleMessagesInPlace(): MessageAssembly {
  if (installed) return installed;
  installed = "grpc-js";
  if (process.env.MODELBAY_GRPC_DECODER === "grpc-js") return installed;
  const require = createRequire(import.meta.url);
  let Decoder: DecoderClass | undefined;
  try {
    Decoder = require("@grpc/grpc-js/build/src/stream-decoder.js").StreamDecoder as DecoderClass | undefined;
  } catch {
    return installed;
  }
  const reference = Decoder?.prototype.write;
  if (!Decoder || typeof reference !== "function" || !agrees(Decoder, writeInPlace, reference)) return installed;
  Decoder.prototype.write = writeInPlace;
  installed = "in-place";
  return installed;
}
