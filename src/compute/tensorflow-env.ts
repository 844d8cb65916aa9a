// TensorFlow settings that only the process environment carries; free of TensorFlow itself, so the
// main thread can set them before a device worker loads the library.

/**
 * TensorFlow's settings from the process environment, set before the library loads (a worker's
 * copy of process.env does not reach it, so the main thread sets them too); explicit values win.
 * - TF_CPP_MIN_LOG_LEVEL=2: its C++ logging is noisy at start; warnings and errors only.
 * - TF_ENABLE_ONEDNN_OPTS=0: with oneDNN each eager op cost ~35 us where plain Eigen costs ~10
 *   (one-row predict through eager ops 170 -> 47 us), graph training ran at the same speed either
 *   way, and graphs rewritten for oneDNN round differently from eager ops (so graph and eager
 *   predictions would not match bit for bit).
 * - TF_NUM_INTEROP_THREADS=-1: graph sessions run their ops on the calling (device) thread instead
 *   of handing each run to TensorFlow's inter-op pool and sleeping until it is done. Measured
 *   (bench/compute-hop.ts; npm run bench -- --quick): one-row predict 108 -> 30 us in process and
 *   217 -> 127 us through the device worker, training at batch 32 10-30% faster; but batch 256, the
 *   MNIST-sized MLP and a 1M-row PredictStream ~20% slower (no parallel branches). Set it to 0
 *   (TensorFlow's pool) to favour throughput over latency.
 * - TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL=0: with oneDNN's optimizations off, Eigen's matrix
 *   products call oneDNN's JIT sgemm, which corrupted the heap ("corrupted size vs. prev_size") when
 *   a signal handler ran on a thread inside it (a CPU profile, SIGCHLD or SIGTERM while training;
 *   test/signal-safety.test.ts). Eigen's own kernel costs the same for small products and ~10% more
 *   for a 256x5000x5000 one.
 */
export function setTensorflowDefaults(): void {
  process.env.TF_CPP_MIN_LOG_LEVEL ??= "2";
  process.env.TF_ENABLE_ONEDNN_OPTS ??= "0";
  process.env.TF_NUM_INTEROP_THREADS ??= "-1";
  process.env.TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL ??= "0";
}
