// Reads TensorFlow checkpoints (the TensorBundle format written by tf.train.Checkpoint and Keras'
// save_weights): `<prefix>.index` is a LevelDB-format table mapping variable names to
// BundleEntryProtos (dtype, shape, shard, offset, size, crc32c), and `<prefix>.data-NNNNN-of-MMMMM`
// hold the raw little-endian tensor bytes. Every block and every tensor is checked by its CRC.
import fs from "node:fs/promises";
import type { TensorData } from "../compute/tensor-data.js";
import { Code, ModelbayError } from "../errors.js";
import { maskedCrc32c } from "./crc32c.js";
import { decodeFields, type Field, WireReader } from "./protobuf-fields.js";

const TABLE_MAGIC = [0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb];
const FOOTER_BYTES = 48;
const BLOCK_TRAILER_BYTES = 5;

// tensorflow/core/framework/types.proto
const DT_NAMES: Record<number, string> = {
  1: "DT_FLOAT",
  2: "DT_DOUBLE",
  3: "DT_INT32",
  4: "DT_UINT8",
  6: "DT_INT8",
  7: "DT_STRING",
  9: "DT_INT64",
  10: "DT_BOOL",
  14: "DT_BFLOAT16",
  19: "DT_HALF",
};
const DT_FLOAT = 1;
const DT_DOUBLE = 2;
const DT_INT32 = 3;
const DT_INT64 = 9;

export interface BundleEntry {
  dtype: number;
  dtypeName: string;
  shape: number[];
  shard: number;
  offset: number;
  size: number;
  crc32c: number | undefined;
}

const corrupt = (file: string, what: string) =>
  new ModelbayError(Code.DATA_LOSS, `checkpoint index ${file} is corrupt: ${what}`);

function blockHandle(r: WireReader): { offset: number; size: number } {
  return { offset: r.varint(), size: r.varint() };
}

/** The checked contents of one table block. */
function readBlock(file: string, buf: Uint8Array, h: { offset: number; size: number }): Uint8Array {
  if (h.offset + h.size + BLOCK_TRAILER_BYTES > buf.length)
    throw corrupt(file, "a block lies past the end of the file");
  const withType = buf.subarray(h.offset, h.offset + h.size + 1);
  if (withType[h.size] !== 0) throw corrupt(file, `block compression ${withType[h.size]} is not supported`);
  const stored = new DataView(buf.buffer, buf.byteOffset + h.offset + h.size + 1, 4).getUint32(0, true);
  if (maskedCrc32c(withType) !== stored) throw corrupt(file, `checksum mismatch in the block at byte ${h.offset}`);
  return buf.subarray(h.offset, h.offset + h.size);
}

/** Key/value pairs of a block, undoing the prefix compression of keys. */
function* blockEntries(block: Uint8Array): Generator<[string, Uint8Array]> {
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const restarts = view.getUint32(block.length - 4, true);
  const end = block.length - 4 * (restarts + 1);
  const r = new WireReader(block.subarray(0, end));
  let key = new Uint8Array(0);
  const decoder = new TextDecoder();
  while (!r.done) {
    const shared = r.varint();
    const unshared = r.varint();
    const valueLength = r.varint();
    const next = new Uint8Array(shared + unshared);
    next.set(key.subarray(0, shared));
    next.set(r.bytes(unshared), shared);
    key = next;
    yield [decoder.decode(key), r.bytes(valueLength)];
  }
}

function fieldVarint(fields: Field[], n: number, fallback = 0): number {
  const f = fields.find((x) => x.number === n);
  return f && "varint" in f ? f.varint : fallback;
}

function decodeEntry(value: Uint8Array): BundleEntry {
  const fields = decodeFields(value);
  const shapeField = fields.find((f) => f.number === 2);
  const shape =
    shapeField && "bytes" in shapeField
      ? decodeFields(shapeField.bytes)
          .filter((f): f is { number: number; bytes: Uint8Array } => f.number === 2 && "bytes" in f)
          .map((dim) => fieldVarint(decodeFields(dim.bytes), 1))
      : [];
  const crcField = fields.find((f) => f.number === 6);
  const dtype = fieldVarint(fields, 1);
  return {
    dtype,
    dtypeName: DT_NAMES[dtype] ?? `dtype ${dtype}`,
    shape,
    shard: fieldVarint(fields, 3),
    offset: fieldVarint(fields, 4),
    size: fieldVarint(fields, 5),
    crc32c:
      crcField && "bytes" in crcField
        ? new DataView(crcField.bytes.buffer, crcField.bytes.byteOffset, 4).getUint32(0, true)
        : undefined,
  };
}

export class TensorBundle {
  private readonly shards = new Map<number, Promise<Buffer>>();

  private constructor(
    readonly prefix: string,
    readonly entries: ReadonlyMap<string, BundleEntry>,
    private readonly numShards: number,
  ) {}

  /** Opens the checkpoint whose files start with `prefix` (e.g. ".../ckpt-10"). */
  static async open(prefix: string): Promise<TensorBundle> {
    const indexFile = `${prefix}.index`;
    const buf = new Uint8Array(
      await fs.readFile(indexFile).catch(() => {
        throw new ModelbayError(Code.INVALID_ARGUMENT, `no checkpoint index at ${indexFile}`);
      }),
    );
    if (buf.length < FOOTER_BYTES || TABLE_MAGIC.some((b, i) => buf[buf.length - 8 + i] !== b)) {
      throw corrupt(indexFile, "not a TensorFlow table (bad footer)");
    }
    const entries = new Map<string, BundleEntry>();
    let numShards = 1;
    try {
      const footer = new WireReader(buf.subarray(buf.length - FOOTER_BYTES));
      blockHandle(footer); // metaindex: unused by bundles
      const index = readBlock(indexFile, buf, blockHandle(footer));
      for (const [, handle] of blockEntries(index)) {
        for (const [key, value] of blockEntries(readBlock(indexFile, buf, blockHandle(new WireReader(handle))))) {
          if (key === "") numShards = fieldVarint(decodeFields(value), 1, 1);
          else entries.set(key, decodeEntry(value));
        }
      }
    } catch (err) {
      if (err instanceof ModelbayError) throw err;
      throw corrupt(indexFile, err instanceof Error ? err.message : String(err));
    }
    return new TensorBundle(prefix, entries, numShards);
  }

  private shard(n: number): Promise<Buffer> {
    let data = this.shards.get(n);
    if (!data) {
      const file = `${this.prefix}.data-${String(n).padStart(5, "0")}-of-${String(this.numShards).padStart(5, "0")}`;
      data = fs.readFile(file).catch(() => {
        throw new ModelbayError(Code.INVALID_ARGUMENT, `checkpoint data file ${file} is missing`);
      });
      this.shards.set(n, data);
    }
    return data;
  }

  /** A variable's value; float64 becomes float32 and int64 int32 (refused if out of range). */
  async read(key: string): Promise<TensorData> {
    const entry = this.entries.get(key);
    if (!entry) throw new ModelbayError(Code.INVALID_ARGUMENT, `the checkpoint has no variable "${key}"`);
    const shard = await this.shard(entry.shard);
    if (entry.offset + entry.size > shard.length) {
      throw new ModelbayError(Code.DATA_LOSS, `variable "${key}" lies past the end of its data file`);
    }
    const bytes = new Uint8Array(shard.buffer, shard.byteOffset + entry.offset, entry.size);
    if (entry.crc32c !== undefined && maskedCrc32c(bytes) !== entry.crc32c) {
      throw new ModelbayError(Code.DATA_LOSS, `variable "${key}" fails its checksum: the data file is corrupt`);
    }
    const copy = bytes.slice();
    const view = new DataView(copy.buffer);
    const count = entry.shape.reduce((n, d) => n * d, 1);
    const expectBytes = (width: number) => {
      if (count * width !== entry.size)
        throw new ModelbayError(Code.DATA_LOSS, `variable "${key}" has ${entry.size} bytes for ${count} values`);
    };
    switch (entry.dtype) {
      case DT_FLOAT:
        expectBytes(4);
        return { dtype: "float32", shape: entry.shape, data: new Float32Array(copy.buffer) };
      case DT_INT32:
        expectBytes(4);
        return { dtype: "int32", shape: entry.shape, data: new Int32Array(copy.buffer) };
      case DT_DOUBLE: {
        expectBytes(8);
        const data = new Float32Array(count);
        for (let i = 0; i < count; i++) data[i] = view.getFloat64(i * 8, true);
        return { dtype: "float32", shape: entry.shape, data };
      }
      case DT_INT64: {
        expectBytes(8);
        const data = new Int32Array(count);
        for (let i = 0; i < count; i++) {
          const v = view.getBigInt64(i * 8, true);
          if (v > 2147483647n || v < -2147483648n)
            throw new ModelbayError(Code.INVALID_ARGUMENT, `variable "${key}" holds ${v}, beyond int32`);
          data[i] = Number(v);
        }
        return { dtype: "int32", shape: entry.shape, data };
      }
      default:
        throw new ModelbayError(
          Code.INVALID_ARGUMENT,
          `variable "${key}" has dtype ${entry.dtypeName}; modelbay reads float32, float64, int32 and int64`,
        );
    }
  }
}
