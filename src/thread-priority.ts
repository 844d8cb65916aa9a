// An option (--background-nice, off by default): every thread of the server but the RPC thread
// runs at a lower CPU priority (a higher nice value). On a machine whose cores compute keeps busy (a
// PredictStream, a training job), the RPC thread otherwise waits for a core behind the device
// thread, TensorFlow's pool and V8's and libuv's helpers each time a call arrives: 0.4-0.6 s of
// waiting in 8.5 s of load here, the tail of health checks. At nice 10 that wait about halves. The
// price is compute throughput: 6-9% fewer Predicts at the device's capacity, also with the server
// in a cgroup of its own (docs/benchmarks.md), hence off by default. Linux keeps a nice value per
// thread, so one thread can be spared (other systems: nothing is done); in a container the nice
// value only ranks threads within the container.
import fs from "node:fs";
import os from "node:os";
import { isMainThread } from "node:worker_threads";

const TASKS = "/proc/self/task";
/** How often threads started since the last look are lowered (a device worker started after a crash, libuv's pool on first use). */
const RESCAN_MS = 1000;

/**
 * Sets every thread of this process but `spared` (a thread id) to at least `nice`; a thread
 * already lower is left as it is. Returns how many threads it lowered.
 */
export function lowerThreads(nice: number, spared?: number): number {
  if (nice <= 0 || process.platform !== "linux") return 0;
  let lowered = 0;
  for (const entry of fs.readdirSync(TASKS)) {
    const tid = Number(entry);
    if (tid === spared) continue;
    try {
      if (os.getPriority(tid) < nice) {
        os.setPriority(tid, nice);
        lowered++;
      }
    } catch {
      // The thread ended after the directory was read.
    }
  }
  return lowered;
}

/**
 * Keeps every thread but this process's main thread (the RPC thread) at `nice` or lower, threads
 * started later included, until the returned function is called. A setting for the whole process:
 * threads lowered stay lowered.
 */
export function keepOtherThreadsLowered(nice: number): () => void {
  // Only the main thread's id is known (the process id): a server started elsewhere spares none.
  if (nice <= 0 || process.platform !== "linux" || !isMainThread) return () => {};
  lowerThreads(nice, process.pid);
  const timer = setInterval(() => lowerThreads(nice, process.pid), RESCAN_MS);
  timer.unref();
  return () => clearInterval(timer);
}
