// The goldens file used by `modelbay goldens make` and `modelbay restore --verify`: JSON that
// Python or any CI script can write and read. Float values are stored as the exact float32 values.
import fs from "node:fs";
import type { DType, TensorData } from "../compute/tensor-data.js";

export interface NamedTensorJson {
  name: string;
  dtype: DType;
  shape: number[];
  values: number[];
}

export interface GoldensFile {
  model_id: string;
  checkpoint_id: string;
  atol: number;
  rtol: number;
  inputs: NamedTensorJson[];
  expected_outputs: NamedTensorJson[];
}

export function tensorToJson(name: string, t: TensorData): NamedTensorJson {
  return { name, dtype: t.dtype, shape: t.shape, values: Array.from(t.data) };
}

export function tensorFromJson(t: NamedTensorJson, where: string): TensorData {
  const count = t.shape.reduce((n, d) => n * d, 1);
  if (!Array.isArray(t.values) || t.values.length !== count) {
    throw new Error(`${where}: ${t.values?.length} values do not fill shape [${t.shape.join(", ")}]`);
  }
  const data =
    t.dtype === "int32"
      ? Int32Array.from(t.values)
      : t.dtype === "bool"
        ? Uint8Array.from(t.values)
        : Float32Array.from(t.values);
  return { dtype: t.dtype, shape: t.shape, data };
}

export function readGoldens(file: string): GoldensFile {
  const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as GoldensFile;
  if (!Array.isArray(parsed.inputs) || !Array.isArray(parsed.expected_outputs)) {
    throw new Error(`${file}: not a goldens file (needs "inputs" and "expected_outputs")`);
  }
  return parsed;
}
