// A large predict whose caller may stop waiting runs in slices of rows, and stops between two
// slices once its deadline has passed or its caller has cancelled: a queued request is dropped
// before it starts, but one already on the device would otherwise hold it to the end (a million
// rows of a large model: minutes). Slices are whole multiples of the batches the model runs anyway,
// so the outputs are the same as in one call.
import { Code, callerGone, ModelbayError } from "../errors.js";
import { cancelIsDeadline, type PredictWait } from "./engine.js";
import { elementCount, type TensorData } from "./tensor-data.js";

/** Rows per slice: the largest multiple of `batchRows` up to `maxRows` (at least one batch). */
export function sliceRows(batchRows: number, maxRows: number): number {
  return batchRows * Math.max(1, Math.floor(maxRows / batchRows));
}

/**
 * `run` over `input` a slice of `rows` at a time, the outputs joined in order. Between slices the
 * thread's event loop takes a turn, so that a cancel waiting for it (a message to a device worker,
 * a gRPC cancel inline) is heard.
 */
export async function predictInSlices(
  input: TensorData,
  rows: number,
  wait: PredictWait,
  run: (slice: TensorData) => Promise<TensorData>,
): Promise<TensorData> {
  let cancelled = false;
  wait.onCancel?.(() => {
    cancelled = true;
  });
  const total = input.shape[0] ?? 0;
  const inRow = elementCount(input.shape.slice(1));
  let output: TensorData | undefined;
  for (let start = 0; start < total; start += rows) {
    if (start > 0) {
      await new Promise((resolve) => setImmediate(resolve));
      const expired =
        wait.deadline !== undefined && (Date.now() >= wait.deadline || (cancelled && cancelIsDeadline(wait.deadline)));
      if (expired || cancelled) throw callerGone(expired, `; the predict stopped after ${start} of ${total} rows`);
    }
    const n = Math.min(rows, total - start);
    const data = input.data.subarray(start * inRow, (start + n) * inRow) as TensorData["data"];
    const part = await run({ dtype: input.dtype, shape: [n, ...input.shape.slice(1)], data });
    const outRow = elementCount(part.shape.slice(1));
    output ??= {
      dtype: part.dtype,
      shape: [total, ...part.shape.slice(1)],
      data: new (part.data.constructor as new (n: number) => TensorData["data"])(total * outRow),
    };
    output.data.set(part.data, start * outRow);
  }
  if (!output) throw new ModelbayError(Code.INTERNAL, "a sliced predict of no rows");
  return output;
}
