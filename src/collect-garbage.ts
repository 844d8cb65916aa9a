// Full garbage collections on request, for shared memory. A SharedArrayBuffer (how checkpoint files
// reach the hash and device threads) is freed only once every thread that saw it has collected its
// handle, and V8 does not count that memory toward starting a collection: a thread with little
// else to allocate keeps it for good. Restoring a 300 MB checkpoint ten times in a row left 3 GB
// allocated until a collection came on its own.
import v8 from "node:v8";
import vm from "node:vm";

// Shared buffers at least this large are worth a collection once they are dropped (and mapped
// files are at least this large, so that a dropped mapping is always collected and ends).
export const COLLECT_AFTER_BYTES = 16 * 2 ** 20;
// How long the collection waits: for the answer of the call that dropped the memory to leave first.
// grpc-js writes a unary answer a few turns of the event loop after the handler returns, and a full
// collection (13-26 ms after a restore here) run at the next turn came before it, every time.
const COLLECT_DELAY_MS = 30;

let gc: (() => void) | undefined;
let pending = false;

/** Runs a full collection of the calling thread's heap now. */
function collectGarbage(): void {
  if (!gc) {
    // Exposed to contexts created from now on: only this new one, no global `gc` elsewhere.
    v8.setFlagsFromString("--expose-gc");
    gc = vm.runInNewContext("gc") as () => void;
  }
  gc();
}

/**
 * A full collection shortly after the current call has unwound, let go of what it held and
 * answered, when what it dropped (`bytes` of shared memory) is worth one.
 */
export function collectSoonAfter(bytes: number): void {
  if (bytes < COLLECT_AFTER_BYTES || pending) return;
  pending = true;
  setTimeout(() => {
    pending = false;
    collectGarbage();
  }, COLLECT_DELAY_MS).unref();
}
