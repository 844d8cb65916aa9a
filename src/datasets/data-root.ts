// Server-side data files, confined to a configured root directory.
import fs from "node:fs/promises";
import path from "node:path";
import type { TensorData } from "../compute/tensor-data.js";
import { invalidArgument } from "../errors.js";
import { parseCsv, selectColumns } from "./csv.js";
import { readNpy } from "./npy.js";

/** Resolves `relative` under `root`, refusing absolute paths and anything that leaves the root. */
export async function resolveUnder(root: string, relative: string, field: string): Promise<string> {
  if (relative === "" || path.isAbsolute(relative) || relative.split(/[\\/]/).includes("..")) {
    throw invalidArgument(field, `"${relative}" must be a relative path inside the data root, without ".."`);
  }
  const base = await fs.realpath(root).catch(() => path.resolve(root));
  const full = path.resolve(base, relative);
  // Symlinks inside the root must not lead out of it either.
  const real = await fs.realpath(full).catch(() => {
    throw invalidArgument(field, `"${relative}" does not exist in the data root`);
  });
  if (real !== base && !real.startsWith(base + path.sep))
    throw invalidArgument(field, `"${relative}" leads outside the data root`);
  return real;
}

/** A .npy array, or every column of a numeric .csv, as one tensor of rows. */
export async function loadRows(root: string, relative: string, field: string): Promise<TensorData> {
  const file = await resolveUnder(root, relative, field);
  if (file.endsWith(".npy")) return readNpy(await fs.readFile(file), field);
  if (file.endsWith(".csv")) return selectColumns(parseCsv(await fs.readFile(file, "utf8"), field), [], field);
  throw invalidArgument(field, `"${relative}" is neither .npy nor .csv`);
}
