// How far V8 lets the heap grow before its next full collection. The RPC thread's heap is small
// (~20 MB live: it holds no tensors), and V8 sizes the next limit from the live size: with its own
// factor (1.1-2x when collections look cheap) the heap was a few MB from its limit all the time, and
// a full mark-compact ran every 0.2-0.5 s under streaming load. Each is short on an idle machine,
// but with both cores busy it held the event loop for 4-18 ms (in the health check's p99).
import v8 from "node:v8";

/**
 * Lets the heap grow by `percent` of its live size before the next full collection (0 leaves
 * V8's own choice). A V8 flag, so it holds for the whole process, worker threads included.
 */
export function setHeapGrowingPercent(percent: number): void {
  if (percent > 0) v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
}
