// Server-side data files, confined to a configured root directory.
import fs from "node:fs/promises";
import path from "node:path";
import { unzipSync } from "fflate";
import type { TensorData } from "../compute/tensor-data.js";
import { invalidArgument } from "../errors.js";
import { parseCsv, selectColumns } from "./csv.js";
import { readNpy } from "./npy.js";
import { npyRows, type RowSource, tensorRows } from "./row-source.js";

/** Resolves `relative` under `root`, refusing absolute paths and anything that leaves the root. */
export async function resolveUnder(
  root: string,
  relative: string,
  field: string,
  rootName = "data root",
): Promise<string> {
  if (relative === "" || path.isAbsolute(relative) || relative.split(/[\\/]/).includes("..")) {
    throw invalidArgument(field, `"${relative}" must be a relative path inside the ${rootName}, without ".."`);
  }
  const base = await fs.realpath(root).catch(() => path.resolve(root));
  const full = path.resolve(base, relative);
  // Symlinks inside the root must not lead out of it either.
  const real = await fs.realpath(full).catch(() => {
    throw invalidArgument(field, `"${relative}" does not exist in the ${rootName}`);
  });
  if (real !== base && !real.startsWith(base + path.sep))
    throw invalidArgument(field, `"${relative}" leads outside the ${rootName}`);
  return real;
}

/** A .npy array (read a chunk at a time), or every column of a numeric .csv, as rows to predict. */
export async function openRows(root: string, relative: string, field: string): Promise<RowSource> {
  const file = await resolveUnder(root, relative, field);
  if (file.endsWith(".npy")) return npyRows(file, field);
  if (file.endsWith(".csv"))
    return tensorRows("", selectColumns(parseCsv(await fs.readFile(file, "utf8"), field), [], field));
  throw invalidArgument(field, `"${relative}" is neither .npy nor .csv`);
}

/** Training examples in a server-side file: a CSV split into feature and label columns, or a .npz. */
export interface ExampleFile {
  path: string;
  featureColumns: readonly string[];
  labelColumns: readonly string[];
}

/**
 * Reads x and y from a .csv (labels named; features named or the rest), an .npz holding "x" and
 * "y", or a directory holding the pair x.npy and y.npy.
 */
export async function loadExamples(
  root: string,
  file: ExampleFile,
  field: string,
): Promise<{ x: TensorData; y: TensorData }> {
  const full = await resolveUnder(root, file.path, `${field}.path`);
  if ((await fs.stat(full)).isDirectory()) {
    // A pair of .npy files: <dir>/x.npy and <dir>/y.npy.
    const part = async (name: string) =>
      readNpy(
        await fs.readFile(await resolveUnder(root, path.join(file.path, `${name}.npy`), `${field}.path`)),
        `${field}.path ${name}.npy`,
      );
    return { x: await part("x"), y: await part("y") };
  }
  if (full.endsWith(".csv")) {
    if (file.labelColumns.length === 0) throw invalidArgument(`${field}.label_columns`, "is required for a CSV file");
    const table = parseCsv(await fs.readFile(full, "utf8"), `${field}.path`);
    const features = file.featureColumns.length
      ? file.featureColumns
      : table.columns.filter((c) => !file.labelColumns.includes(c));
    return {
      x: selectColumns(table, features, `${field}.feature_columns`),
      y: selectColumns(table, file.labelColumns, `${field}.label_columns`),
    };
  }
  if (full.endsWith(".npz")) {
    let arrays: Record<string, Uint8Array>;
    try {
      arrays = unzipSync(new Uint8Array(await fs.readFile(full)));
    } catch (err) {
      throw invalidArgument(
        `${field}.path`,
        `"${file.path}" is not a readable .npz (${err instanceof Error ? err.message : String(err)})`,
      );
    }
    const array = (name: string) => {
      const bytes = arrays[`${name}.npy`];
      if (!bytes)
        throw invalidArgument(
          `${field}.path`,
          `"${file.path}" has no array "${name}" (has: ${Object.keys(arrays).join(", ")})`,
        );
      return readNpy(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), `${field}.path ${name}`);
    };
    return { x: array("x"), y: array("y") };
  }
  throw invalidArgument(`${field}.path`, `"${file.path}" is not a .csv, an .npz or a directory of x.npy and y.npy`);
}
