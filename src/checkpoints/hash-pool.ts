// sha256 on helper threads, over shared memory that the caller fills as it reads (a restore) or
// streams out (a checkpoint's commit). Each file's hash runs on its own thread, so two files are
// hashed at once and hashing (as fast as reading from the page cache) stays off the event loop.
import { createHash } from "node:crypto";
import os from "node:os";
import { Worker } from "node:worker_threads";

// Plain JavaScript, so the thread starts the same way from the TypeScript sources and from dist/.
const HASH_THREAD = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
require("node:v8").setFlagsFromString("--expose-gc");
const collect = require("node:vm").runInNewContext("gc");
const jobs = new Map();
// This thread allocates next to nothing, so it would never collect the handles of the buffers it
// hashed, and each one pins its memory (shared with the caller) for good: collect once idle (as
// src/collect-garbage.ts does; this thread's code is plain JavaScript and cannot import it).
const idle = () => { if (jobs.size === 0) collect(); };
parentPort.on("message", (m) => {
  if (m.kind === "begin") jobs.set(m.job, { hash: createHash("sha256"), bytes: m.buffer && new Uint8Array(m.buffer) });
  else if (m.kind === "update") { const j = jobs.get(m.job); j.hash.update(j.bytes.subarray(m.start, m.end)); }
  else if (m.kind === "chunk") { jobs.get(m.job).hash.update(m.chunk); parentPort.postMessage({ job: m.job, hashed: m.seq }); }
  else if (m.kind === "drop") { jobs.delete(m.job); setImmediate(idle); }
  else { const j = jobs.get(m.job); jobs.delete(m.job); parentPort.postMessage({ job: m.job, digest: j.hash.digest("hex") }); setImmediate(idle); }
});
`;

type Message =
  | { kind: "begin"; job: number; buffer?: SharedArrayBuffer }
  | { kind: "update"; job: number; start: number; end: number }
  // A stream's next bytes, in shared memory the caller reuses once `hashed` comes back.
  | { kind: "chunk"; job: number; seq: number; chunk: Uint8Array }
  | { kind: "end" | "drop"; job: number };

/** A sha256 of one shared buffer, fed in ranges in order as they are filled. */
export interface SharedHash {
  /** Bytes [start, end) are final; they are hashed on the helper thread. */
  update(start: number, end: number): void;
  digest(): Promise<string>;
  /** Stops without a digest (the read failed); the helper lets go of the buffer. */
  abandon(): void;
}

/** A sha256 of a stream of chunks, each hashed on the helper thread before its memory is reused. */
export interface StreamHash {
  /** Hashes `chunk` after the ones before it; resolves once it is hashed (its memory is free again). */
  update(chunk: Uint8Array): Promise<void>;
  digest(): Promise<string>;
  abandon(): void;
}

class HashThread {
  private readonly worker = new Worker(HASH_THREAD, { eval: true });
  private readonly waiting = new Map<number, { resolve(d: string): void; reject(e: Error): void }>();
  private readonly chunksWaiting = new Map<string, { resolve(): void; reject(e: Error): void }>();
  private jobs = 0;
  failed = false;

  get busy(): number {
    return this.jobs;
  }

  constructor() {
    this.worker.on("message", (m: { job: number; digest: string } | { job: number; hashed: number }) => {
      if ("hashed" in m) {
        const key = `${m.job}:${m.hashed}`;
        this.chunksWaiting.get(key)?.resolve();
        this.chunksWaiting.delete(key);
        return;
      }
      this.waiting.get(m.job)?.resolve(m.digest);
      this.waiting.delete(m.job);
    });
    const fail = (err: Error) => {
      this.failed = true;
      for (const w of [...this.waiting.values(), ...this.chunksWaiting.values()]) w.reject(err);
      this.waiting.clear();
      this.chunksWaiting.clear();
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => fail(new Error(`the hash thread exited (code ${code})`)));
    // An idle helper thread must not keep a finished process alive, and a busy one must (a digest
    // awaited is no reason for Node to stay). Listeners ref the thread, so this comes after them.
    this.worker.unref();
  }

  private track(delta: 1 | -1): void {
    this.jobs += delta;
    if (this.jobs === 1 && delta === 1) this.worker.ref();
    if (this.jobs === 0) this.worker.unref();
  }

  private post(m: Message): void {
    this.worker.postMessage(m);
  }

  private end(job: number): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      if (this.failed) return reject(new Error("the hash thread failed"));
      this.waiting.set(job, { resolve, reject });
      this.post({ kind: "end", job });
    }).finally(() => this.track(-1));
  }

  private drop(job: number): void {
    this.post({ kind: "drop", job });
    this.track(-1);
  }

  begin(job: number, buffer: SharedArrayBuffer): SharedHash {
    this.post({ kind: "begin", job, buffer });
    this.track(1);
    return {
      update: (start, end) => this.post({ kind: "update", job, start, end }),
      digest: () => this.end(job),
      abandon: () => this.drop(job),
    };
  }

  beginStream(job: number): StreamHash {
    this.post({ kind: "begin", job });
    this.track(1);
    let seq = 0;
    return {
      update: (chunk) =>
        new Promise<void>((resolve, reject) => {
          if (this.failed) return reject(new Error("the hash thread failed"));
          const n = seq++;
          this.chunksWaiting.set(`${job}:${n}`, { resolve, reject });
          // Shared memory crosses as it is; anything else as a copy of just its bytes.
          const shared = chunk.buffer instanceof SharedArrayBuffer ? chunk : chunk.slice();
          this.post({ kind: "chunk", job, seq: n, chunk: shared });
        }),
      digest: () => this.end(job),
      abandon: () => this.drop(job),
    };
  }
}

const threads: HashThread[] = [];
let nextJob = 1;
// As many hashes at once as there are cores: one file each, while the thread pool reads.
const POOL_SIZE = Math.max(1, Math.min(4, os.availableParallelism()));

// Below this size a buffer is hashed on the calling thread: it takes less than a millisecond,
// less than starting a helper thread or a round trip to one.
const OFF_THREAD_MIN_BYTES = 4 * 2 ** 20;

function inlineHash(buffer: SharedArrayBuffer): SharedHash {
  const hash = createHash("sha256");
  const bytes = new Uint8Array(buffer);
  return {
    update: (start, end) => {
      hash.update(bytes.subarray(start, end));
    },
    digest: async () => hash.digest("hex"),
    abandon: () => undefined,
  };
}

/** The least busy helper thread, or a new one while the pool has room and all are busy. */
function pickThread(): HashThread {
  for (let i = threads.length - 1; i >= 0; i--) if (threads[i]?.failed) threads.splice(i, 1);
  let thread = threads.reduce<HashThread | undefined>((a, t) => (a && a.busy <= t.busy ? a : t), undefined);
  if (!thread || (thread.busy > 0 && threads.length < POOL_SIZE)) {
    thread = new HashThread();
    threads.push(thread);
  }
  return thread;
}

/** Starts hashing `buffer`: large ones on the least busy helper thread (started on first use). */
export function sharedHash(buffer: SharedArrayBuffer): SharedHash {
  if (buffer.byteLength < OFF_THREAD_MIN_BYTES) return inlineHash(buffer);
  return pickThread().begin(nextJob++, buffer);
}

/**
 * Starts hashing a stream of chunks, judged by its first: large chunks in shared memory (a
 * checkpoint's tensors as they leave the device) on the least busy helper thread, so that two files
 * are hashed at once and the event loop's thread hashes nothing; small ones here.
 */
export function streamHash(first: Uint8Array): StreamHash {
  if (first.byteLength >= OFF_THREAD_MIN_BYTES && first.buffer instanceof SharedArrayBuffer) {
    return pickThread().beginStream(nextJob++);
  }
  const hash = createHash("sha256");
  return {
    update: async (chunk) => {
      hash.update(chunk);
    },
    digest: async () => hash.digest("hex"),
    abandon: () => undefined,
  };
}
