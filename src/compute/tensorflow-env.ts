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
 * - TF_CPU_ALLOCATOR_USE_BFC=true: TensorFlow keeps the memory it frees in a pool (its best-fit
 *   allocator) instead of returning it to the system. With the default allocator, runs of
 *   bench/predict-stream.ts went at random into a mode with twice the page faults (matrix products
 *   zeroing freshly mapped buffers): 0.45-1.7M faults per run, the compute seam at 2.6-6.2M rows/s,
 *   `data_path` streams at 1.8-8.4M. With the pool: ~300k faults in every run, the seam at 4.8-6.4M,
 *   streams at 3.7-7.4M (11 runs), and a 25M-weight training step 279-298 ms instead of 326-339.
 *   The price: the process keeps TensorFlow's peak memory (977 MiB after training and deleting that
 *   model, against 488) and reuses it for the next model. Set it to false to give freed memory back.
 * - TF_OVERRIDE_GLOBAL_THREADPOOL=true: each session (and the eager context) gets an intra-op
 *   thread pool of its own, sized by its own options, instead of all sharing the first one's. The
 *   graph trainer runs small steps on one thread (graph-trainer.ts: 1.3-1.6x the samples/s of the
 *   seed model on two cores) while large models keep one thread per core. Idle pools cost threads,
 *   not CPU.
 */
export function setTensorflowDefaults(): void {
  process.env.TF_CPP_MIN_LOG_LEVEL ??= "2";
  process.env.TF_ENABLE_ONEDNN_OPTS ??= "0";
  process.env.TF_NUM_INTEROP_THREADS ??= "-1";
  process.env.TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL ??= "0";
  process.env.TF_CPU_ALLOCATOR_USE_BFC ??= "true";
  process.env.TF_OVERRIDE_GLOBAL_THREADPOOL ??= "true";
}
