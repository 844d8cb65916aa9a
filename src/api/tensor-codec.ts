// Translates wire Tensors to domain TensorData and back, checking them on the way in.
// Raw little-endian bytes map onto typed arrays without copying when they are aligned.
import os from "node:os";
import { type DType, elementCount, type TensorData } from "../compute/tensor-data.js";
import { Code, invalidArgument, ModelbayError } from "../errors.js";
import type { NonFiniteReport as WireNonFiniteReport } from "../gen/modelbay/v1/model_service.js";
import { DataType, type Tensor } from "../gen/modelbay/v1/tensor.js";
import type { NonFiniteReport } from "../sessions/non-finite.js";
import { alignInPlace } from "./align-in-place.js";

export interface TensorLimits {
  /** Largest tensor accepted, in bytes of its wire contents. */
  maxTensorBytes: number;
}

if (os.endianness() !== "LE") throw new Error("modelbay assumes a little-endian host for raw tensor contents");

/** Each wire type's name, bytes per element, and the alignment its raw bytes are read at. */
interface WireType {
  name: string;
  size: number;
  align: number;
}

const WIRE_TYPES: Record<Exclude<DataType, DataType.UNRECOGNIZED>, WireType | undefined> = {
  [DataType.DATA_TYPE_UNSPECIFIED]: undefined,
  [DataType.DATA_TYPE_FLOAT32]: { name: "float32", size: 4, align: 4 },
  [DataType.DATA_TYPE_INT32]: { name: "int32", size: 4, align: 4 },
  [DataType.DATA_TYPE_BOOL]: { name: "bool", size: 1, align: 1 },
  [DataType.DATA_TYPE_FLOAT64]: { name: "float64", size: 8, align: 8 },
  // Read as pairs of int32 halves (rawInt64ToInt32).
  [DataType.DATA_TYPE_INT64]: { name: "int64", size: 8, align: 4 },
};

const TYPED_FIELD: Record<string, keyof Tensor> = {
  float32: "floatValues",
  int32: "int32Values",
  bool: "boolValues",
  float64: "float64Values",
  int64: "int64Values",
};

export function dataTypeToWire(dtype: DType): DataType {
  return { float32: DataType.DATA_TYPE_FLOAT32, int32: DataType.DATA_TYPE_INT32, bool: DataType.DATA_TYPE_BOOL }[dtype];
}

export function dataTypeFromWire(dtype: DataType): DType | undefined {
  const name = WIRE_TYPES[dtype as keyof typeof WIRE_TYPES]?.name;
  return name === "float32" || name === "int32" || name === "bool" ? name : undefined;
}

/**
 * A view of `bytes` as `T`, copying only when the bytes are not aligned for it, into memory of the
 * same kind: shared memory (a large request's) crosses to a device thread without another copy.
 */
function viewAs<T extends Float32Array | Int32Array | Float64Array>(
  Ctor: {
    new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
    new (length: number): T;
    BYTES_PER_ELEMENT: number;
  },
  bytes: Uint8Array,
): T {
  const n = bytes.byteLength / Ctor.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % Ctor.BYTES_PER_ELEMENT === 0) return new Ctor(bytes.buffer, bytes.byteOffset, n);
  const copy =
    bytes.buffer instanceof SharedArrayBuffer ? new Ctor(new SharedArrayBuffer(bytes.byteLength), 0, n) : new Ctor(n);
  new Uint8Array(copy.buffer).set(bytes);
  return copy;
}

/**
 * `t`'s raw bytes, moved in place to an offset that is a multiple of `alignment` where they can be
 * (see align-in-place.ts). `t` then holds the moved view: its old one no longer has the bytes.
 */
function alignedRaw(t: Tensor, alignment: number): Uint8Array {
  const aligned = alignInPlace(t.rawContents, alignment);
  if (aligned) t.rawContents = aligned;
  return t.rawContents;
}

const doesNotFit = (field: string, value: number | bigint, at: number) =>
  invalidArgument(field, `int64 value ${value} at element ${at} does not fit in int32`);

function int64ToInt32(values: ArrayLike<number>, field: string): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (v < -2147483648 || v > 2147483647) throw doesNotFit(field, v, i);
    out[i] = v;
  }
  return out;
}

/**
 * Raw little-endian int64 narrowed to int32, read as int32 halves: a value fits when its high half
 * is its low half's sign. 3-5x faster than through BigInt64Array, and aligned at 4 bytes is enough.
 */
function rawInt64ToInt32(bytes: Uint8Array, field: string): Int32Array {
  const halves = viewAs(Int32Array, bytes);
  const out = new Int32Array(halves.length / 2);
  for (let i = 0; i < out.length; i++) {
    const low = halves[2 * i] as number;
    if (halves[2 * i + 1] !== low >> 31) {
      throw doesNotFit(field, new DataView(halves.buffer, halves.byteOffset + 8 * i, 8).getBigInt64(0, true), i);
    }
    out[i] = low;
  }
  return out;
}

/** A wire tensor checked against itself and the limits: its type, shape, and where its values are. */
interface CheckedTensor {
  wire: WireType;
  shape: number[];
  count: number;
  /** The values come as raw_contents (of exactly the right length), not as typed values. */
  raw: boolean;
  expectedField: keyof Tensor;
}

function checkWireTensor(t: Tensor, field: string, limits: TensorLimits): CheckedTensor {
  const wire = WIRE_TYPES[t.dtype as keyof typeof WIRE_TYPES];
  if (!wire) throw invalidArgument(`${field}.dtype`, "is required (FLOAT32, INT32, BOOL, FLOAT64 or INT64)");
  for (const [d, dim] of t.shape.entries()) {
    if (!Number.isInteger(dim) || dim < 0)
      throw invalidArgument(`${field}.shape[${d}]`, `${dim} is not a valid dimension`);
  }
  const count = elementCount(t.shape);
  const bytes = count * wire.size;
  if (bytes > limits.maxTensorBytes) {
    throw new ModelbayError(
      Code.RESOURCE_EXHAUSTED,
      `${field}: ${bytes} bytes exceeds the server's max_tensor_bytes limit of ${limits.maxTensorBytes}`,
    );
  }
  const typedFields = Object.values(TYPED_FIELD).filter((k) => (t[k] as unknown[]).length > 0);
  const raw = t.rawContents.byteLength > 0;
  if (raw && typedFields.length > 0) throw invalidArgument(field, "set either raw_contents or typed values, not both");
  const expectedField = TYPED_FIELD[wire.name] as keyof Tensor;
  if (typedFields.some((k) => k !== expectedField)) {
    throw invalidArgument(field, `dtype ${wire.name} expects its values in ${expectedField} or raw_contents`);
  }
  const shape = [...t.shape];
  if (raw && t.rawContents.byteLength !== bytes) {
    throw invalidArgument(
      `${field}.raw_contents`,
      `has ${t.rawContents.byteLength} bytes but shape [${shape.join(", ")}] of ${wire.name} needs ${bytes}`,
    );
  }
  return { wire, shape, count, raw, expectedField };
}

export function tensorFromWire(t: Tensor, field: string, limits: TensorLimits): TensorData {
  const { wire, shape, count, raw, expectedField } = checkWireTensor(t, field, limits);
  if (raw) return fromRaw(wire.name, shape, alignedRaw(t, wire.align), field);
  const values = t[expectedField] as ArrayLike<number | boolean>;
  if (values.length !== count) {
    throw invalidArgument(field, `has ${values.length} values but shape [${shape.join(", ")}] holds ${count}`);
  }
  switch (wire.name) {
    case "float32":
    case "float64":
      return { dtype: "float32", shape, data: Float32Array.from(values as ArrayLike<number>) };
    case "int32":
      return { dtype: "int32", shape, data: Int32Array.from(values as ArrayLike<number>) };
    case "int64":
      return { dtype: "int32", shape, data: int64ToInt32(values as ArrayLike<number>, field) };
    default:
      return { dtype: "bool", shape, data: Uint8Array.from(values as ArrayLike<boolean>, (b) => (b ? 1 : 0)) };
  }
}

/**
 * A tensor sent as raw_contents already in the domain's form (float32, int32 or bool), checked as
 * tensorFromWire checks it, as the request's own bytes: not copied, so aligned only if they were
 * or could be moved in place.
 * Undefined for typed values or types that need converting.
 */
export function rawTensorFromWire(
  t: Tensor,
  field: string,
  limits: TensorLimits,
): { dtype: DType; shape: number[]; bytes: Uint8Array } | undefined {
  const { wire, shape, raw } = checkWireTensor(t, field, limits);
  const dtype = dataTypeFromWire(t.dtype);
  return raw && dtype ? { dtype, shape, bytes: alignedRaw(t, wire.align) } : undefined;
}

function fromRaw(name: string, shape: number[], bytes: Uint8Array, field: string): TensorData {
  switch (name) {
    case "float32":
      return { dtype: "float32", shape, data: viewAs(Float32Array, bytes) };
    case "float64":
      return { dtype: "float32", shape, data: Float32Array.from(viewAs(Float64Array, bytes)) };
    case "int32":
      return { dtype: "int32", shape, data: viewAs(Int32Array, bytes) };
    case "int64":
      return { dtype: "int32", shape, data: rawInt64ToInt32(bytes, `${field}.raw_contents`) };
    default:
      return { dtype: "bool", shape, data: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
  }
}

export function tensorToWire(name: string, t: TensorData, raw: boolean): Tensor {
  const base: Tensor = {
    name,
    dtype: dataTypeToWire(t.dtype),
    shape: [...t.shape],
    floatValues: [],
    int32Values: [],
    boolValues: [],
    float64Values: [],
    int64Values: [],
    rawContents: Buffer.alloc(0),
  };
  if (raw) {
    // The data's own bytes: for a well-formed tensor exactly product(shape) elements; clients that
    // build a malformed one on purpose (tests) get what they built.
    base.rawContents = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  } else if (t.dtype === "float32") {
    base.floatValues = Array.from(t.data);
  } else if (t.dtype === "int32") {
    base.int32Values = Array.from(t.data);
  } else {
    base.boolValues = Array.from(t.data, (b) => b !== 0);
  }
  return base;
}

export function nonFiniteToWire(report: NonFiniteReport): WireNonFiniteReport {
  const counts = (list: NonFiniteReport["inputs"]) =>
    list.map((c) => ({ name: c.name, nanCount: c.nan, infCount: c.inf }));
  return { inputs: counts(report.inputs), outputs: counts(report.outputs) };
}
