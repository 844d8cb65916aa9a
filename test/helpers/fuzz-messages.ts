// Request bytes for fuzzing the server: random messages drawn from the contract's descriptors,
// field-level mutations of valid requests, and byte-level damage to their encodings. Strings come
// from a dictionary of ids, names and path tricks that grows with what the server answers, so that
// requests name things that exist often enough to get past the first check.
import fs from "node:fs";
import path from "node:path";
import {
  create,
  createFileRegistry,
  type DescField,
  type DescMessage,
  type DescMethod,
  fromBinary,
  ScalarType,
  toBinary,
} from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

/** A small deterministic PRNG (mulberry32), so a failing seed replays the same requests. */
export class Random {
  constructor(private state: number) {}
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
}

/** The services and methods of the contract, from the descriptor set `npm run gen` builds. */
export function contractMethods(): DescMethod[] {
  const file = path.resolve(import.meta.dirname, "../../src/gen/modelbay.binpb");
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, fs.readFileSync(file)));
  return [...registry.files].flatMap((f) => f.services.flatMap((s) => s.methods));
}

const numbers = [0, 1, -1, 2, 3, 7, 10, 32, 100, 127, 128, 255, 4096, 65536, 2 ** 31 - 1, -(2 ** 31), 2 ** 32 - 1];
const floats = [0, -0, 0.5, 1, -1, 1e-3, 1e-45, 3.4e38, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
const longs = [0n, 1n, -1n, 2n, 10n, 1000n, 2n ** 31n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n];
const pathTricks = [
  "",
  ".",
  "..",
  "/",
  "../keeper",
  "fz/../keeper",
  "..\\keeper",
  "/etc/passwd",
  "%2e%2e",
  "fz\u0000x",
];
const words = ["fz", "fz2", "latest", "x", "input", "output", "dense", "relu", "adam", "loss", "val_loss", "é", " fz"];

/** Values that strings and bytes are drawn from; `learn` adds what the server answered. */
export class Dictionary {
  private readonly strings = new Set<string>([...pathTricks, ...words, "a".repeat(300)]);
  constructor(private readonly forbidden: (s: string) => boolean) {}

  /** Remembers the strings of an answer (ids of checkpoints, jobs, models), except forbidden ones. */
  learn(value: unknown): void {
    if (typeof value === "string") {
      if (value.length > 0 && value.length <= 200 && !this.forbidden(value)) this.strings.add(value);
    } else if (Array.isArray(value)) {
      for (const v of value) this.learn(v);
    } else if (value && typeof value === "object" && !ArrayBuffer.isView(value)) {
      for (const v of Object.values(value)) this.learn(v);
    }
  }

  string(r: Random): string {
    if (r.chance(0.1)) return Array.from({ length: r.int(12) }, () => String.fromCharCode(32 + r.int(95))).join("");
    return r.pick([...this.strings]);
  }

  bytes(r: Random): Uint8Array {
    const length = r.pick([0, 1, 4, 8, 40, 80, 400, 4096, r.int(100)]);
    const out = new Uint8Array(length);
    // Mostly well-formed float32 values, sometimes raw noise (NaN patterns, denormals).
    const floats = new Float32Array(out.buffer, 0, length >> 2);
    if (r.chance(0.7)) for (let i = 0; i < floats.length; i++) floats[i] = r.next() * 2 - 1;
    else for (let i = 0; i < length; i++) out[i] = r.int(256);
    return out;
  }
}

type Plain = Record<string, unknown>;

function scalar(r: Random, type: ScalarType, dict: Dictionary): unknown {
  switch (type) {
    case ScalarType.STRING:
      return dict.string(r);
    case ScalarType.BYTES:
      return dict.bytes(r);
    case ScalarType.BOOL:
      return r.chance(0.5);
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return r.pick(floats);
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return BigInt.asIntN(64, r.pick(longs));
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return BigInt.asUintN(64, r.pick(longs));
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return r.pick(numbers) >>> 0;
    default:
      return r.pick(numbers) | 0;
  }
}

function enumValue(r: Random, values: readonly { number: number }[]): number {
  // An unknown number now and then: the contract's enums are open.
  return r.chance(0.15) ? r.pick([99, -1, 2 ** 31 - 1]) : r.pick(values).number;
}

function listLength(r: Random): number {
  return r.pick([0, 1, 1, 2, 2, 3, 4, 8]);
}

/** A random value of a singular field, list or map. */
function fieldValue(r: Random, field: DescField, dict: Dictionary, depth: number): unknown {
  switch (field.fieldKind) {
    case "scalar":
      return scalar(r, field.scalar, dict);
    case "enum":
      return enumValue(r, field.enum.values);
    case "message":
      return randomInit(r, field.message, dict, depth + 1);
    case "list":
      return Array.from({ length: depth > 3 ? 0 : listLength(r) }, () =>
        field.listKind === "scalar"
          ? scalar(r, field.scalar, dict)
          : field.listKind === "enum"
            ? enumValue(r, field.enum.values)
            : randomInit(r, field.message, dict, depth + 1),
      );
    case "map": {
      const out: Plain = {};
      for (let i = 0; i < (depth > 3 ? 0 : listLength(r)); i++) {
        const key = String(scalar(r, field.mapKey, dict));
        out[key] =
          field.mapKind === "scalar"
            ? scalar(r, field.scalar, dict)
            : field.mapKind === "enum"
              ? enumValue(r, field.enum.values)
              : randomInit(r, field.message, dict, depth + 1);
      }
      return out;
    }
  }
}

/** Sets one field on a plain init object, through its oneof when it has one. */
function assign(init: Plain, field: DescField, value: unknown): void {
  if (field.oneof) init[field.oneof.localName] = { case: field.localName, value };
  else init[field.localName] = value;
}

/** A random init object for `desc`: each field present with some chance, one case of each oneof. */
function randomInit(r: Random, desc: DescMessage, dict: Dictionary, depth: number): Plain {
  const init: Plain = {};
  if (depth > 5) return init;
  for (const field of desc.fields) {
    if (field.oneof && init[field.oneof.localName] !== undefined) continue;
    if (r.chance(field.oneof ? 0.4 : 0.6)) assign(init, field, fieldValue(r, field, dict, depth));
  }
  return init;
}

export function randomMessage(r: Random, desc: DescMessage, dict: Dictionary): Uint8Array {
  return toBinary(desc, create(desc, randomInit(r, desc, dict, 0) as never));
}

/** Changes one field somewhere in `message` (a message object of protobuf-es), in place. */
function mutateFields(r: Random, desc: DescMessage, message: Plain, dict: Dictionary, depth: number): void {
  if (desc.fields.length === 0) return;
  const field = r.pick(desc.fields);
  const holder = field.oneof ? (message[field.oneof.localName] as { case?: string; value?: unknown }) : undefined;
  const current = field.oneof
    ? holder?.case === field.localName
      ? holder.value
      : undefined
    : message[field.localName];
  const roll = r.next();
  if (field.fieldKind === "message" && current && roll < 0.6 && depth < 6) {
    mutateFields(r, field.message, current as Plain, dict, depth + 1);
    return;
  }
  if (field.fieldKind === "list" && Array.isArray(current) && current.length > 0 && roll < 0.7) {
    const i = r.int(current.length);
    if (roll < 0.15) current.splice(i, 1);
    else if (roll < 0.25) current.push(current[i]);
    else if (field.listKind === "message") mutateFields(r, field.message, current[i] as Plain, dict, depth + 1);
    else current[i] = field.listKind === "scalar" ? scalar(r, field.scalar, dict) : enumValue(r, field.enum.values);
    return;
  }
  if (roll > 0.85) {
    // Clear it: the field's default, or no case of its oneof.
    if (field.oneof) message[field.oneof.localName] = { case: undefined };
    else message[field.localName] = create(desc)[field.localName as never];
    return;
  }
  const value = fieldValue(r, field, dict, depth);
  const typed = field.fieldKind === "message" ? create(field.message, value as never) : value;
  if (field.fieldKind === "list" && field.listKind === "message") {
    assign(
      message,
      field,
      (value as Plain[]).map((v) => create(field.message, v as never)),
    );
  } else if (field.fieldKind === "map" && field.mapKind === "message") {
    const entries = Object.entries(value as Plain).map(([k, v]) => [k, create(field.message, v as never)]);
    assign(message, field, Object.fromEntries(entries));
  } else assign(message, field, typed);
}

/** A valid request with one to three fields changed. */
export function mutatedMessage(r: Random, desc: DescMessage, valid: Uint8Array, dict: Dictionary): Uint8Array {
  const message = fromBinary(desc, valid) as unknown as Plain;
  const times = 1 + r.int(3);
  for (let i = 0; i < times; i++) mutateFields(r, desc, message, dict, 0);
  return toBinary(desc, message as never);
}

/** A valid request's bytes damaged: bits flipped, cut short, bytes inserted, or a varint stretched. */
export function damagedBytes(r: Random, valid: Uint8Array): Uint8Array {
  const out = Array.from(valid);
  const times = 1 + r.int(4);
  for (let i = 0; i < times; i++) {
    const at = r.int(out.length + 1);
    const kind = r.int(4);
    if (kind === 0 && out.length > 0) {
      const i = Math.min(at, out.length - 1);
      out[i] = (out[i] as number) ^ (1 << r.int(8));
    } else if (kind === 1) out.length = at;
    else if (kind === 2) out.splice(at, 0, ...Array.from({ length: 1 + r.int(8) }, () => r.int(256)));
    else out.splice(at, 0, 0xff, 0xff, 0xff, 0xff, 0x0f);
  }
  return Uint8Array.from(out);
}
