// HDF5 through h5wasm (the HDF5 C library compiled to WebAssembly), for Keras weight files. h5wasm
// opens files by path, so bytes held in memory (a zip member) go through a private temporary file.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Dataset, File, Group } from "h5wasm/node";
import type { TensorData } from "../compute/tensor-data.js";
import { Code, ModelbayError } from "../errors.js";

type H5wasm = typeof import("h5wasm/node");

// Loaded on first use: the library holds ~70 MB of JavaScript heap, which the server's main thread
// would otherwise carry (and walk in every full garbage collection) for the rare Keras import.
let loading: Promise<H5wasm> | undefined;
let loaded: H5wasm | undefined;

/** The library, from code that runs inside readHdf5/writeHdf5 (so after it loaded). */
function lib(): H5wasm {
  if (!loaded) throw new Error("h5wasm is used before it loaded");
  return loaded;
}

async function withTempFile<T>(use: (file: string) => T): Promise<T> {
  loading ??= import("h5wasm/node").then(async (library) => {
    await library.default.ready;
    loaded = library;
    return library;
  });
  await loading;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "modelbay-h5-"));
  try {
    return use(path.join(dir, "weights.h5"));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Opens HDF5 bytes read-only for the duration of `read`. */
export function readHdf5<T>(bytes: Uint8Array, read: (file: File) => T): Promise<T> {
  return withTempFile((file) => {
    fs.writeFileSync(file, bytes);
    const h5 = new (lib().default.File)(file, "r");
    try {
      return read(h5);
    } finally {
      h5.close();
    }
  });
}

/** Builds an HDF5 file with `write` and returns its bytes. */
export function writeHdf5(write: (file: File) => void): Promise<Buffer> {
  return withTempFile((file) => {
    const h5 = new (lib().default.File)(file, "w");
    try {
      write(h5);
    } finally {
      h5.close();
    }
    return fs.readFileSync(file);
  });
}

/** The group at `groupPath`, creating it and its parents as needed. */
export function ensureGroup(file: File, groupPath: string): Group {
  let current = "";
  for (const part of groupPath.split("/")) {
    current = current ? `${current}/${part}` : part;
    if (!file.get(current)) file.create_group(current);
  }
  return file.get(groupPath) as Group;
}

/** Datasets <group>/0, <group>/1, ... in numeric order, as float32 or int32 tensors. */
export function numberedDatasets(file: File, group: string, label: string): TensorData[] {
  const g = file.get(group);
  if (!(g instanceof lib().Group)) return [];
  return g
    .keys()
    .map(Number)
    .sort((a, b) => a - b)
    .map((i) => {
      const d = file.get(`${group}/${i}`);
      if (!(d instanceof lib().Dataset))
        throw new ModelbayError(Code.INVALID_ARGUMENT, `${label}: ${group}/${i} is not a dataset`);
      return datasetTensor(d, `${group}/${i}`, label);
    });
}

/** The dataset at `where`, as a float32 or int32 tensor. */
export function namedDataset(file: File, where: string, label: string): TensorData {
  const d = file.get(where);
  if (!(d instanceof lib().Dataset))
    throw new ModelbayError(Code.INVALID_ARGUMENT, `${label}: ${where} is not a dataset`);
  return datasetTensor(d, where, label);
}

/** The value of an attribute of the file (`at` "") or of a group or dataset in it. */
function attributeValue(file: File, at: string, name: string): unknown {
  const holder = at === "" ? file : file.get(at);
  return holder instanceof lib().Group || holder instanceof lib().Dataset ? holder.attrs[name]?.value : undefined;
}

/** A text attribute; undefined where there is none. */
export function textAttribute(file: File, at: string, name: string): string | undefined {
  const value = attributeValue(file, at, name);
  return typeof value === "string" ? value : undefined;
}

/** A list-of-texts attribute (Keras' layer_names, weight_names); [] where there is none or it is empty. */
export function textListAttribute(file: File, at: string, name: string, label: string): string[] {
  const value = attributeValue(file, at, name);
  // h5py writes an empty list as an empty array of floats.
  if (value === undefined || (ArrayBuffer.isView(value) && value.byteLength === 0)) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw new ModelbayError(Code.INVALID_ARGUMENT, `${label}: ${at}'s ${name} is not a list of names`);
  }
  return value;
}

function datasetTensor(d: Dataset, where: string, label: string): TensorData {
  const shape = d.shape ?? [];
  const value = d.value;
  if (value instanceof Float32Array) return { dtype: "float32", shape, data: value };
  if (value instanceof Float64Array) return { dtype: "float32", shape, data: Float32Array.from(value) };
  if (value instanceof Int32Array) return { dtype: "int32", shape, data: value };
  if (value instanceof BigInt64Array || typeof value === "bigint") {
    const values = typeof value === "bigint" ? [value] : Array.from(value);
    if (values.some((v) => v > 2147483647n || v < -2147483648n))
      throw new ModelbayError(Code.INVALID_ARGUMENT, `${label}: ${where} holds values beyond int32`);
    return { dtype: "int32", shape, data: Int32Array.from(values, Number) };
  }
  if (typeof value === "number") return { dtype: "float32", shape, data: Float32Array.of(value) };
  throw new ModelbayError(
    Code.INVALID_ARGUMENT,
    `${label}: ${where} has HDF5 type ${JSON.stringify(d.dtype)}; modelbay reads float and integer weights`,
  );
}
