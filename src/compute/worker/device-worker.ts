// Entry point of a device worker: owns one device's TensorFlow backend and the models placed on
// it, and answers the server's requests one at a time. It runs as a worker thread (the CPU) or as
// a child process (GPUs: CUDA reads CUDA_VISIBLE_DEVICES from the process environment, so pinning
// a GPU takes a process of its own).
import { parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";
import { collectSoonAfter } from "../../collect-garbage.js";
import { callerGone, ModelbayError } from "../../errors.js";
import { lowerThreads } from "../../thread-priority.js";
import { type ComputeModel, cancelIsDeadline, type StateCapture, type Trainer } from "../engine.js";
import { createInProcessEngine } from "../in-process-engine.js";
import { BYTES_PER_ELEMENT } from "../tensor-data.js";
import { type Cancel, type Envelope, epochMs, type Ready, type Reply, type Wake, type WorkerInit } from "./protocol.js";
import { RequestQueue } from "./request-queue.js";
import { LaneServer } from "./shared-lane.js";

type Incoming = Envelope | Cancel | Wake;

interface Port {
  postMessage(message: unknown): void;
  on(event: "message", listener: (message: Incoming) => void): void;
}

function childProcessPort(): Port {
  const send = process.send?.bind(process);
  if (!send) throw new Error("device-worker must run in a worker thread or a forked child process");
  return {
    postMessage: (message) => send(message),
    on: (event, listener) => process.on(event, listener),
  };
}

const port: Port = parentPort ?? childProcessPort();
const init = (parentPort ? workerData : JSON.parse(process.env.MODELBAY_WORKER_INIT ?? "{}")) as WorkerInit;
// A worker process is all compute: every thread of it goes below the server's RPC thread, before
// TensorFlow starts its own (which take the nice value of the thread that starts them).
if (!parentPort && init.processNice) lowerThreads(init.processNice);
const lane = init.lane ? new LaneServer(init.lane) : undefined;

const models = new Map<number, ComputeModel>();
const trainers = new Map<number, { trainer: Trainer; order: Int32Array | null }>();
const captures = new Map<number, StateCapture>();
let nextHandle = 1;

function need<T>(map: Map<number, T>, handle: number, what: string): T {
  const value = map.get(handle);
  if (value === undefined) throw new Error(`unknown ${what} handle ${handle}`);
  return value;
}

async function main(): Promise<void> {
  let engine: Awaited<ReturnType<typeof createInProcessEngine>>;
  try {
    engine = await createInProcessEngine(
      init.backend,
      init.maxModelBytes === undefined ? {} : { maxModelBytes: init.maxModelBytes },
    );
  } catch (err) {
    port.postMessage({ ready: false, message: err instanceof Error ? err.message : String(err) } satisfies Ready);
    return;
  }
  port.postMessage({
    ready: true,
    backend: engine.backend,
    cudaVisibleDevices: process.env.CUDA_VISIBLE_DEVICES ?? null,
  } satisfies Ready);

  // The running request's cancel listener: a cancel for it stops a large predict between slices.
  let runningCancel: { id: number; listener: () => void } | undefined;

  const handle = async (req: Envelope): Promise<unknown> => {
    switch (req.op) {
      case "build":
      case "restore":
      case "loadSavedModel": {
        const model =
          req.op === "build"
            ? await engine.buildModel(req.spec)
            : req.op === "restore"
              ? await engine.restoreModel(req.spec, req.snapshot)
              : await engine.loadSavedModel(req.dir);
        const h = nextHandle++;
        models.set(h, model);
        return { handle: h, description: model.description };
      }
      case "predict": {
        const { id, deadline, cancellable } = req;
        const onCancel = (listener: () => void) => {
          runningCancel = { id, listener };
        };
        return need(models, req.model, "model").predict(req.inputs, { deadline, ...(cancellable ? { onCancel } : {}) });
      }
      case "getWeights":
        return need(models, req.model, "model").getWeights();
      case "setWeights":
        return need(models, req.model, "model").setWeights(req.weights);
      case "captureState": {
        const capture = await need(models, req.model, "model").captureState();
        const h = nextHandle++;
        captures.set(h, capture);
        return { handle: h, topology: capture.topology, tensors: capture.tensors };
      }
      case "readCapture": {
        const capture = need(captures, req.capture, "capture");
        const dtype = capture.tensors[req.index]?.dtype ?? "float32";
        const into = req.into ?? new Uint8Array(req.count * BYTES_PER_ELEMENT[dtype]);
        const filled = await capture.read(req.index, req.start, req.count, into);
        return req.into ? filled.byteLength : filled;
      }
      case "releaseCapture":
        captures.get(req.capture)?.release();
        captures.delete(req.capture);
        return null;
      case "disposeModel": {
        const model = models.get(req.model);
        model?.dispose();
        models.delete(req.model);
        // Its weights and optimizer slots (Adam: two per weight) may have come in shared memory or
        // mapped files (a restore) that this thread pins until it collects the handles.
        collectSoonAfter(3 * (model?.description.weightBytes ?? 0));
        return null;
      }
      case "createTrainer": {
        const trainer = await need(models, req.model, "model").createTrainer(req.x, req.y, req.opts);
        const h = nextHandle++;
        trainers.set(h, { trainer, order: null });
        return { handle: h, executor: trainer.executor, rows: trainer.rows, batchesPerEpoch: trainer.batchesPerEpoch };
      }
      case "runBatches": {
        const entry = need(trainers, req.trainer, "trainer");
        if (req.order !== "same") entry.order = req.order;
        return entry.trainer.runBatches(entry.order, req.firstBatch, req.count);
      }
      case "evaluate":
        return need(trainers, req.trainer, "trainer").trainer.evaluate(req.x, req.y);
      case "disposeTrainer":
        trainers.get(req.trainer)?.trainer.dispose();
        trainers.delete(req.trainer);
        return null;
      case "memory":
        return engine.memory();
    }
  };

  // A request that came by the shared lane is answered in its slot when the reply fits there.
  const answer = (reply: Reply) => {
    if (!lane?.answer(reply)) port.postMessage(reply);
  };
  /** The answer to a request dropped unrun because its caller stopped waiting (`expired`: its deadline passed). */
  const notRun = (req: Envelope, expired: boolean): Reply => {
    const { code, message } = callerGone(
      expired,
      ` while the ${req.op} waited for device ${init.device}; it was not run`,
    );
    return { id: req.id, ok: false, code, message, computeMs: 0 };
  };

  // One request at a time: TensorFlow work on one device is serial anyway. Requests run in arrival
  // order, which keeps a model's steps and reads consistent; only Predicts piling up are reordered
  // (request-queue.ts).
  const serve = async (req: Envelope): Promise<void> => {
    // A caller who has stopped waiting gets nothing from the compute; under overload, running
    // such requests would make every request behind them late too.
    if ("deadline" in req && req.deadline !== undefined && Date.now() >= req.deadline) {
      answer(notRun(req, true));
      return;
    }
    let reply: Reply;
    const started = performance.now();
    try {
      const result = await handle(req);
      reply = { id: req.id, ok: true, result, computeMs: performance.now() - started };
    } catch (err) {
      const code = err instanceof ModelbayError ? err.code : 13;
      const message = err instanceof Error ? err.message : String(err);
      reply = { id: req.id, ok: false, code, message, computeMs: performance.now() - started };
    } finally {
      runningCancel = undefined;
    }
    // Copied, never transferred: arrays from tensor.data() may be the backend's own storage
    // (tfjs-node keeps the values of tensors made from JavaScript arrays until first use).
    answer(reply);
  };
  const queue = new RequestQueue(init.predictOrder);
  const cancel = (id: number) => {
    const dropped = queue.remove(id);
    if (!dropped) {
      if (runningCancel?.id === id) runningCancel.listener();
      return;
    }
    answer(notRun(dropped, cancelIsDeadline("deadline" in dropped ? dropped.deadline : undefined)));
  };
  // Requests come by two ways to a thread: its port, and small Predicts by the shared lane. The
  // server numbers them in the order it sends them, and the queue takes them in that order (a
  // Predict sent after new weights must see them). A lane request sent before a port message is
  // published before that message is posted, so reading the lane, then the port, then the lane
  // again sees every request numbered below the last port message; cancels come after their
  // requests, so they apply once those are queued.
  const arrive = (messages: Incoming[]) => {
    const requests = messages.filter((m): m is Envelope => "op" in m).sort((a, b) => a.id - b.id);
    for (const req of requests) queue.push(req);
    for (const m of messages) if ("cancel" in m) cancel(m.cancel);
  };
  const fromPort = (): Incoming[] => {
    const messages: Incoming[] = [];
    if (!parentPort) return messages;
    for (let m = receiveMessageOnPort(parentPort); m; m = receiveMessageOnPort(parentPort)) messages.push(m.message);
    return messages;
  };
  const fromBoth = (first: Incoming[] = []): Incoming[] => {
    lane?.noteBell();
    return [...(lane?.take() ?? []), ...first, ...fromPort(), ...(lane?.take() ?? [])];
  };
  // Messages that arrived while the device was busy are taken in before the next request is
  // chosen, so the queue sees every waiting request and cancel. A thread reads its port at once; a
  // process's messages come in through its event loop, which one turn lets deliver what waits
  // (without it, a GPU's worker chose from what its last await happened to let in).
  const takeArrived = async () => {
    if (!parentPort) return new Promise<void>((resolve) => setImmediate(resolve));
    arrive(fromBoth());
  };
  let running = false;
  port.on("message", (message: Incoming) => {
    arrive(fromBoth([message]));
    if (running) return;
    running = true;
    lane?.unpark();
    void (async () => {
      for (;;) {
        await takeArrived();
        const next = queue.take(epochMs());
        if (next) {
          await serve(next);
          continue;
        }
        // Idle: a thread with a lane waits on its bell a while, so the next request wakes it at once.
        if (!lane || !(await lane.linger(() => queue.size > 0))) break;
      }
      running = false;
    })();
  });
}

void main();
