// A large predict whose caller may stop waiting runs in slices of rows, and stops between two
// slices once its deadline has passed or its caller has cancelled: a queued request is dropped
// before it starts, but one already on the device would otherwise hold it to the end (a million
// rows of a large model: minutes). Slices are whole multiples of the batches the model runs anyway,
// so the outputs are the same as in one call.
import { Code, callerGone, ModelbayError } from "../errors.js";
import { cancelIsDeadline, type PredictWait } from "./engine.js";
import { elementCount, sliceRows as rowsBetween, type TensorData } from "./tensor-data.js";

/** Rows per slice: the largest multiple of `batchRows` up to `maxRows` (at least one batch). */
export function sliceRows(batchRows: number, maxRows: number): number {
  return batchRows * Math.max(1, Math.floor(maxRows / batchRows));
}

/**
 * `run` over `inputs` (the same rows in each) a slice of `rows` at a time, each output joined in
 * order. Between slices the thread's event loop takes a turn, so that a cancel waiting for it (a
 * message to a device worker, a gRPC cancel inline) is heard.
 */
export async function predictInSlices(
  inputs: readonly TensorData[],
  rows: number,
  wait: PredictWait,
  run: (slice: TensorData[]) => Promise<TensorData[]>,
): Promise<TensorData[]> {
  let cancelled = false;
  wait.onCancel?.(() => {
    cancelled = true;
  });
  const total = inputs[0]?.shape[0] ?? 0;
  let outputs: TensorData[] | undefined;
  for (let start = 0; start < total; start += rows) {
    if (start > 0) {
      await new Promise((resolve) => setImmediate(resolve));
      const expired =
        wait.deadline !== undefined && (Date.now() >= wait.deadline || (cancelled && cancelIsDeadline(wait.deadline)));
      if (expired || cancelled) throw callerGone(expired, `; the predict stopped after ${start} of ${total} rows`);
    }
    const n = Math.min(rows, total - start);
    const parts = await run(inputs.map((input) => rowsBetween(input, start, start + n)));
    outputs ??= parts.map((part) => ({
      dtype: part.dtype,
      shape: [total, ...part.shape.slice(1)],
      data: new (part.data.constructor as new (n: number) => TensorData["data"])(total * rowElements(part)),
    }));
    for (const [i, part] of parts.entries()) (outputs[i] as TensorData).data.set(part.data, start * rowElements(part));
  }
  if (!outputs) throw new ModelbayError(Code.INTERNAL, "a sliced predict of no rows");
  return outputs;
}

const rowElements = (t: TensorData) => elementCount(t.shape.slice(1));
