// Reads numeric CSV files with a header row into float32 tensors.
import type { TensorData } from "../compute/tensor-data.js";
import { invalidArgument } from "../errors.js";

export interface CsvTable {
  columns: string[];
  /** Row-major values, rows x columns. */
  values: Float32Array;
  rows: number;
}

export function parseCsv(text: string, field: string): CsvTable {
  const lines = text.split(/\r?\n/);
  const header = lines[0]?.trim();
  if (!header) throw invalidArgument(field, "line 1: the CSV has no header row");
  const columns = header.split(",").map((c) => c.trim());
  const values: number[] = [];
  let rows = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]?.trim() ?? "";
    if (line === "") continue;
    const cells = line.split(",");
    if (cells.length !== columns.length) {
      throw invalidArgument(field, `line ${i + 1}: ${cells.length} cells, the header has ${columns.length}`);
    }
    for (const [j, cell] of cells.entries()) {
      const v = Number(cell.trim());
      if (cell.trim() === "" || Number.isNaN(v))
        throw invalidArgument(field, `line ${i + 1}: column "${columns[j]}" is not a number: "${cell.trim()}"`);
      values.push(v);
    }
    rows++;
  }
  return { columns, values: Float32Array.from(values), rows };
}

/** The named columns (all, when `names` is empty) as a [rows, columns] float32 tensor. */
export function selectColumns(table: CsvTable, names: readonly string[], field: string): TensorData {
  const picked = names.length ? names : table.columns;
  const index = picked.map((n) => {
    const i = table.columns.indexOf(n);
    if (i < 0) throw invalidArgument(field, `no column "${n}" (columns: ${table.columns.join(", ")})`);
    return i;
  });
  const out = new Float32Array(table.rows * index.length);
  const width = table.columns.length;
  for (let r = 0; r < table.rows; r++) {
    for (const [k, i] of index.entries()) out[r * index.length + k] = table.values[r * width + i] as number;
  }
  return { dtype: "float32", shape: [table.rows, index.length], data: out };
}
