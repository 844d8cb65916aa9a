// Just enough protobuf wire-format decoding to read the few TensorFlow messages a checkpoint index
// holds (BundleHeaderProto, BundleEntryProto, TensorShapeProto) without generating their classes.

export type Field = { number: number; varint: number } | { number: number; bytes: Uint8Array };

export class WireReader {
  pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  /** A varint as a JavaScript number (exact below 2^53, which covers offsets, sizes and dims). */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error("truncated varint");
      const b = this.buf[this.pos++] as number;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
      if (scale > 2 ** 63) throw new Error("varint too long");
    }
  }

  bytes(n: number): Uint8Array {
    if (this.pos + n > this.buf.length) throw new Error("truncated field");
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

/** Every field of a message, in order; fixed-width fields come back as their raw bytes. */
export function decodeFields(buf: Uint8Array): Field[] {
  const r = new WireReader(buf);
  const fields: Field[] = [];
  while (!r.done) {
    const tag = r.varint();
    const number = Math.floor(tag / 8);
    switch (tag & 7) {
      case 0:
        fields.push({ number, varint: r.varint() });
        break;
      case 1:
        fields.push({ number, bytes: r.bytes(8) });
        break;
      case 2:
        fields.push({ number, bytes: r.bytes(r.varint()) });
        break;
      case 5:
        fields.push({ number, bytes: r.bytes(4) });
        break;
      default:
        throw new Error(`unsupported wire type ${tag & 7}`);
    }
  }
  return fields;
}
