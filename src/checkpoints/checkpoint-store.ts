// A local directory of checkpoints, one folder per model, committed atomically:
// files are written and fsynced into a temporary folder, the manifest last, the folder is renamed
// into place and its parent fsynced; only then does the model's LATEST pointer move.
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { Code, invalidArgument, ModelbayError, notFound } from "../errors.js";
import { tensorPlacement } from "./checkpoint-codec.js";
import { type StreamHash, streamHash } from "./hash-pool.js";
import {
  type CheckedRead,
  type CheckpointReads,
  CorruptCheckpointError,
  MANIFEST_FILE,
  type Manifest,
  type ManifestFile,
  manifestOf,
  readChecked,
  readManifest,
} from "./manifest.js";
import { checkpointsToDelete, keepsEverything, type RetentionPolicy } from "./retention.js";

const CHECKPOINT_ID = /^ckpt-(\d{6,})$/;
const LATEST_FILE = "LATEST";
const TEMP_PREFIX = ".tmp-";

export interface StoredCheckpoint {
  id: string;
  dir: string;
  manifest: Manifest;
  createTime: Date;
}

export interface ReadCheckpoint extends StoredCheckpoint {
  files: Map<string, Buffer>;
  /** What the client should know, e.g. that the newest checkpoint was corrupt and skipped. */
  warnings: string[];
}

async function fsyncPath(p: string): Promise<void> {
  const handle = await fs.open(p, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A file of a checkpoint whose bytes arrive in pieces (read out of a model while it trains on). */
export interface StreamedFile {
  path: string;
  /** Each chunk may be reused once the next one is requested: consume it before asking on. */
  chunks(): AsyncIterable<Uint8Array>;
}

/** A file whose bytes are already in memory, as a streamed file of one chunk. */
export function inMemoryFile(path: string, data: Uint8Array): StreamedFile {
  return {
    path,
    async *chunks() {
      yield data;
    },
  };
}

/**
 * How a commit writes large files: "direct" past the page cache where the filesystem allows (less
 * CPU, and a checkpoint does not push other files out of the cache, but a restore right after it
 * reads from disk: 321-424 ms against 175-284 ms warm for 301 MB here), "cached" through it.
 */
export type CheckpointWrites = "direct" | "cached";

// Direct I/O (O_DIRECT) moves whole blocks from memory to the disk without copying them into the
// page cache: for a 301 MB checkpoint that copy was ~118 ms of CPU per commit, and the commit is
// CPU-bound on two cores (sha256 and the device's copies take the rest). Linux only, and only for
// block-aligned lengths and offsets from block-aligned memory (the capture's page-aligned chunks).
const DIRECT_FLAG = fs.constants.O_DIRECT;
const DIRECT_ALIGNMENT = 4096;
// Chunks of at least this size in shared memory (a capture's) are written past the page cache.
// Smaller ones cost little to copy, and may not sit in page-aligned memory (shared memory under
// 1 MiB is plain; see alignedSharedBuffer).
const DIRECT_MIN_BYTES = 2 ** 20;

/** A handle on `file` that bypasses the page cache, or none where the system or filesystem has none. */
async function openDirect(file: string): Promise<fs.FileHandle | undefined> {
  if (DIRECT_FLAG === undefined) return undefined;
  try {
    return await fs.open(file, fs.constants.O_WRONLY | DIRECT_FLAG);
  } catch {
    return undefined; // tmpfs, some network filesystems: EINVAL
  }
}

/**
 * Writes the chunks to `file`, hashing each while the thread pool writes it: large block-aligned
 * chunks through a direct handle when there is one, the rest (and everything, should a direct write
 * be refused) through the page cache. Returns once every byte is written, with `durable`: the
 * fsync, which proceeds while the other files are written.
 */
async function writeStream(
  file: string,
  chunks: AsyncIterable<Uint8Array>,
  allowDirect: boolean,
): Promise<{ entry: ManifestFile; durable: Promise<void> }> {
  const handle = await fs.open(file, "w");
  // Opened on the first chunk that can use it; null: none to be had (or wanted).
  let direct = (allowDirect ? undefined : null) as fs.FileHandle | null | undefined;
  // Chosen by the first chunk: a file of large chunks in shared memory is hashed on a helper thread.
  let hash: StreamHash | undefined;
  let size = 0;
  const writeChunk = async (chunk: Uint8Array, position: number) => {
    const aligned =
      chunk.byteLength >= DIRECT_MIN_BYTES &&
      chunk.buffer instanceof SharedArrayBuffer &&
      position % DIRECT_ALIGNMENT === 0 &&
      chunk.byteOffset % DIRECT_ALIGNMENT === 0;
    if (aligned && direct === undefined) direct = (await openDirect(file)) ?? null;
    const directBytes = direct && aligned ? chunk.byteLength - (chunk.byteLength % DIRECT_ALIGNMENT) : 0;
    let done = 0;
    if (direct && directBytes > 0) {
      try {
        done = (await direct.write(chunk, 0, directBytes, position)).bytesWritten;
      } catch (err) {
        // Memory that is not block-aligned after all (plain shared memory), or a filesystem that
        // opens direct handles but refuses the writes: the page cache takes the rest of the file.
        if ((err as NodeJS.ErrnoException).code !== "EINVAL") throw err;
        await direct.close();
        direct = null;
      }
    }
    await writeAll(handle, chunk.subarray(done), position + done);
  };
  let digest: string;
  try {
    for await (const chunk of chunks) {
      hash ??= streamHash(chunk);
      // The chunk's memory is reused once the next one is asked for: written and hashed by then.
      await Promise.all([writeChunk(chunk, size), hash.update(chunk)]);
      size += chunk.byteLength;
    }
    digest = await (hash ?? streamHash(new Uint8Array())).digest();
  } catch (err) {
    hash?.abandon();
    await Promise.all([handle.close(), direct?.close()]);
    throw err;
  }
  // One fsync covers the file, whichever handle wrote its blocks.
  const durable = handle.sync().finally(() => Promise.all([handle.close(), direct?.close()]));
  // Awaited by the commit; a commit that fails first must not leave the rejection unhandled.
  durable.catch(() => undefined);
  return { entry: { path: path.basename(file), size, sha256: digest }, durable };
}

async function writeAll(handle: fs.FileHandle, chunk: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < chunk.byteLength; ) {
    done += (await handle.write(chunk, done, chunk.byteLength - done, position + done)).bytesWritten;
  }
}

async function writeFileSynced(file: string, data: Buffer | string): Promise<void> {
  const handle = await fs.open(file, "w");
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function storageError(action: string, err: unknown): ModelbayError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new ModelbayError(Code.RESOURCE_EXHAUSTED, `${action}: no space left in the checkpoint store`, {
      cause: err,
    });
  }
  return new ModelbayError(Code.INTERNAL, `${action} failed`, { cause: err });
}

const seqOf = (id: string) => Number(CHECKPOINT_ID.exec(id)?.[1] ?? 0);

export function checkCheckpointId(id: string, field = "checkpoint_id"): string {
  if (!CHECKPOINT_ID.test(id))
    throw invalidArgument(field, `"${id.slice(0, 64)}" is not a checkpoint id (ckpt-NNNNNN) or "latest"`);
  return id;
}

export class CheckpointStore {
  // Commits to one model are serialized so that ids and LATEST move in order.
  private readonly queues = new Map<string, Promise<unknown>>();
  // Checkpoints being read, which deletion and retention must leave alone.
  private readonly reading = new Map<string, number>();
  /** Checkpoints ("model/id") being moved out of the way by a delete. */
  private readonly deleting = new Set<string>();

  constructor(
    readonly root: string,
    private readonly writes: CheckpointWrites = "direct",
    private readonly reads: CheckpointReads = "mapped",
  ) {}

  /** Creates the directory, checks it is writable, and removes temporaries a crash left behind. */
  async init(): Promise<void> {
    const probe = path.join(this.root, `${TEMP_PREFIX}probe-${process.pid}`);
    try {
      await fs.mkdir(this.root, { recursive: true });
      await fs.writeFile(probe, "");
      await fs.rm(probe);
    } catch (err) {
      throw new Error(
        `checkpoint-dir: ${this.root} is not a writable directory (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    }
    for (const model of await fs.readdir(this.root, { withFileTypes: true })) {
      if (!model.isDirectory()) continue;
      const dir = path.join(this.root, model.name);
      for (const entry of await fs.readdir(dir)) {
        if (entry.startsWith(TEMP_PREFIX)) await fs.rm(path.join(dir, entry), { recursive: true, force: true });
      }
    }
  }

  private modelDir(modelId: string): string {
    // Model ids are checked by the session layer; this guards the store on its own too.
    if (modelId === "" || modelId.includes("/") || modelId.includes("\\") || modelId.startsWith(".")) {
      throw invalidArgument("model_id", "escapes the checkpoint store");
    }
    return path.join(this.root, modelId);
  }

  private serialize<T>(modelId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(modelId) ?? Promise.resolve();
    const next = previous.then(work, work);
    this.queues.set(
      modelId,
      next.catch(() => undefined),
    );
    return next;
  }

  private async ids(modelId: string): Promise<string[]> {
    let entries: string[];
    try {
      entries = await fs.readdir(this.modelDir(modelId));
    } catch {
      return [];
    }
    return entries.filter((e) => CHECKPOINT_ID.test(e)).sort((a, b) => seqOf(b) - seqOf(a));
  }

  /**
   * Writes a new checkpoint whose files arrive in pieces, hashing them as they are written, and
   * moves LATEST to it once everything is durable.
   */
  commit(modelId: string, files: readonly StreamedFile[]): Promise<StoredCheckpoint> {
    return this.serialize(modelId, async () => {
      const modelDir = this.modelDir(modelId);
      const newest = (await this.ids(modelId))[0];
      const seq = newest ? seqOf(newest) + 1 : 1;
      const id = `ckpt-${String(seq).padStart(6, "0")}`;
      const temp = path.join(modelDir, `${TEMP_PREFIX}${id}-${randomBytes(4).toString("hex")}`);
      const final = path.join(modelDir, id);
      let manifest: Manifest;
      try {
        await fs.mkdir(temp, { recursive: true });
        // All files at once: each large one hashes on its own helper thread while the device
        // streams both. Every write has ended (or failed) before anything is cleaned up.
        const direct = this.writes === "direct";
        const written = await Promise.allSettled(
          files.map((f) => writeStream(path.join(temp, f.path), f.chunks(), direct)),
        );
        const failed = written.find((w) => w.status === "rejected");
        const done = written.flatMap((w) => (w.status === "fulfilled" ? [w.value] : []));
        const durable = await Promise.allSettled(done.map((w) => w.durable));
        if (failed) throw failed.reason;
        const notDurable = durable.find((d) => d.status === "rejected");
        if (notDurable) throw notDurable.reason;
        manifest = manifestOf(done.map((w) => w.entry));
        await writeFileSynced(path.join(temp, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
        await fsyncPath(temp);
        await fs.rename(temp, final);
        await fsyncPath(modelDir);
        await this.setLatest(modelId, id);
      } catch (err) {
        await fs.rm(temp, { recursive: true, force: true }).catch(() => undefined);
        throw storageError(`writing checkpoint ${id} of model "${modelId}"`, err);
      }
      const stat = await fs.stat(path.join(final, MANIFEST_FILE));
      return { id, dir: final, manifest, createTime: stat.mtime };
    });
  }

  private async setLatest(modelId: string, id: string): Promise<void> {
    const modelDir = this.modelDir(modelId);
    const temp = path.join(modelDir, `${TEMP_PREFIX}latest-${randomBytes(4).toString("hex")}`);
    await writeFileSynced(temp, `${id}\n`);
    await fs.rename(temp, path.join(modelDir, LATEST_FILE));
    await fsyncPath(modelDir);
  }

  async latestId(modelId: string): Promise<string | undefined> {
    try {
      const id = (await fs.readFile(path.join(this.modelDir(modelId), LATEST_FILE), "utf8")).trim();
      return CHECKPOINT_ID.test(id) ? id : undefined;
    } catch {
      return undefined;
    }
  }

  /** Checkpoints of a model, newest first, without hashing their contents. */
  async list(modelId: string): Promise<StoredCheckpoint[]> {
    const out: StoredCheckpoint[] = [];
    for (const id of await this.ids(modelId)) {
      const dir = path.join(this.modelDir(modelId), id);
      try {
        const manifest = await readManifest(dir);
        const stat = await fs.stat(path.join(dir, MANIFEST_FILE));
        out.push({ id, dir, manifest, createTime: stat.mtime });
      } catch {
        // A directory without a readable manifest was never committed: not a checkpoint.
      }
    }
    return out;
  }

  /** One file of a checkpoint, unverified: for listings, which must not hash every checkpoint. */
  async readFile(modelId: string, id: string, name: string): Promise<Buffer> {
    try {
      return await fs.readFile(path.join(this.modelDir(modelId), checkCheckpointId(id), name));
    } catch (err) {
      // Deleted since it was listed (or never there): a caller's race, not a broken store.
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw notFound(`checkpoint "${id}" of model "${modelId}"`);
      throw err;
    }
  }

  /**
   * Reads and verifies a checkpoint. For "latest", a corrupt newest checkpoint is skipped in favour
   * of the newest good one, and the response says so.
   */
  async read(modelId: string, idOrLatest: string): Promise<ReadCheckpoint> {
    return (
      await this.readThen(modelId, idOrLatest, async (_read, verified) => {
        await verified;
      })
    ).read;
  }

  /**
   * Reads a checkpoint (as `read`) and hands it to `use` while its large files are still being
   * hashed, so that work on their bytes (building the model) overlaps the hashing. `use` must
   * await `verified` before it makes anything it built visible, and undo its work if that rejects:
   * a checkpoint that proves corrupt is then treated as `read` treats it (the next older one, for
   * "latest"). What `use` returns comes back with the checkpoint.
   */
  async readThen<T>(
    modelId: string,
    idOrLatest: string,
    use: (read: ReadCheckpoint, verified: Promise<void>) => Promise<T>,
  ): Promise<{ read: ReadCheckpoint; value: T }> {
    const warnings: string[] = [];
    let candidates: string[];
    if (idOrLatest === "latest") {
      const latest = await this.latestId(modelId);
      const all = await this.ids(modelId);
      // Newer directories than LATEST would be commits whose pointer never moved: not trusted.
      candidates = latest ? all.filter((id) => seqOf(id) <= seqOf(latest)) : all;
      if (candidates.length === 0) throw notFound(`checkpoint of model "${modelId}"`);
    } else {
      candidates = [checkCheckpointId(idOrLatest)];
    }
    for (const id of candidates) {
      const dir = path.join(this.modelDir(modelId), id);
      const key = `${modelId}/${id}`;
      const gone = () => notFound(`checkpoint ${id} of model "${modelId}"`);
      // Deleted before or while it was read (DeleteCheckpoint, DeleteModel): gone, not corrupt.
      const vanished = () =>
        this.deleting.has(key) ||
        fs.stat(dir).then(
          () => false,
          () => true,
        );
      // A checkpoint that failed to read: skipped for "latest" (corrupt ones with a warning); by id,
      // NOT_FOUND if it was deleted meanwhile, DATA_LOSS if corrupt, else the storage error.
      const failed = async (err: unknown) => {
        if (await vanished()) {
          if (idOrLatest !== "latest") throw gone();
        } else if (!(err instanceof CorruptCheckpointError)) {
          throw storageError(`reading checkpoint ${id}`, err);
        } else if (idOrLatest !== "latest") {
          throw new ModelbayError(Code.DATA_LOSS, `checkpoint ${id} of model "${modelId}" is corrupt: ${err.message}`);
        } else {
          warnings.push(`checkpoint ${id} is corrupt (${err.message}); skipped`);
        }
      };
      if (this.deleting.has(key)) {
        if (idOrLatest !== "latest") throw gone();
        continue;
      }
      this.reading.set(key, (this.reading.get(key) ?? 0) + 1);
      try {
        let checked: CheckedRead;
        try {
          checked = await readChecked(dir, tensorPlacement, this.reads);
        } catch (err) {
          await failed(err);
          continue;
        }
        const { manifest, files, verified } = checked;
        // How the hashing ended, whatever `use` does (and without an unobserved rejection).
        const hashing = verified.then(
          () => undefined,
          (err: unknown) => err,
        );
        const createTime = await fs.stat(path.join(dir, MANIFEST_FILE)).then(
          (stat) => stat.mtime,
          async (err: unknown) => {
            await hashing;
            await failed(err);
            return undefined;
          },
        );
        if (!createTime) continue;
        const read: ReadCheckpoint = { id, dir, manifest, files, createTime, warnings };
        try {
          const value = await use(read, verified);
          await verified;
          return { read, value };
        } catch (err) {
          const hashError = await hashing;
          if (hashError === undefined) throw err;
          await failed(hashError);
        }
      } finally {
        const n = (this.reading.get(key) ?? 1) - 1;
        if (n === 0) this.reading.delete(key);
        else this.reading.set(key, n);
      }
    }
    if (warnings.length === 0) throw notFound(`checkpoint of model "${modelId}"`);
    throw new ModelbayError(Code.DATA_LOSS, `no intact checkpoint of model "${modelId}": ${warnings.join("; ")}`);
  }

  /** Deletes one checkpoint; the latest only with `force`, and never one being read. */
  delete(modelId: string, id: string, force: boolean): Promise<void> {
    checkCheckpointId(id);
    return this.serialize(modelId, async () => {
      const dir = path.join(this.modelDir(modelId), id);
      if (
        !(await fs.stat(dir).then(
          () => true,
          () => false,
        ))
      )
        throw notFound(`checkpoint ${id} of model "${modelId}"`);
      const latest = await this.latestId(modelId);
      if (latest === id && !force) {
        throw new ModelbayError(
          Code.FAILED_PRECONDITION,
          `checkpoint ${id} is the latest of model "${modelId}"; set force to delete it`,
        );
      }
      // Checked in the same turn as `deleting` is set: a read starts either before (and this
      // refuses) or after (and finds the checkpoint gone).
      const key = `${modelId}/${id}`;
      if (this.reading.has(key)) {
        throw new ModelbayError(Code.FAILED_PRECONDITION, `checkpoint ${id} is being read; try again`);
      }
      this.deleting.add(key);
      // Rename first so that a crash mid-delete leaves a temporary (cleaned at start), not half a checkpoint.
      const doomed = path.join(this.modelDir(modelId), `${TEMP_PREFIX}deleted-${id}-${randomBytes(4).toString("hex")}`);
      try {
        await fs.rename(dir, doomed);
      } finally {
        this.deleting.delete(key);
      }
      if (latest === id) {
        const next = (await this.ids(modelId))[0];
        if (next) await this.setLatest(modelId, next);
        else await fs.rm(path.join(this.modelDir(modelId), LATEST_FILE), { force: true });
      }
      await fs.rm(doomed, { recursive: true, force: true });
    });
  }

  /**
   * Applies a retention policy; `metricsOf` reads a checkpoint's metrics. Never deletes the latest
   * or a checkpoint being read. Returns the ids deleted.
   */
  async prune(
    modelId: string,
    policy: RetentionPolicy,
    metricsOf: (id: string) => Promise<Record<string, number>>,
  ): Promise<string[]> {
    if (keepsEverything(policy)) return [];
    const latest = await this.latestId(modelId);
    const prefix = `${modelId}/`;
    const reading = [...this.reading.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
    const protectedIds = new Set([...(latest ? [latest] : []), ...reading]);
    const candidates = await Promise.all(
      (await this.list(modelId)).map(async (c) => ({
        id: c.id,
        createTime: c.createTime,
        metrics: await metricsOf(c.id),
      })),
    );
    const deleted: string[] = [];
    for (const id of checkpointsToDelete(candidates, policy, protectedIds)) {
      // delete() re-checks latest and readers under the model's lock.
      await this.delete(modelId, id, false).then(
        () => deleted.push(id),
        () => undefined,
      );
    }
    return deleted;
  }

  deleteAll(modelId: string): Promise<void> {
    return this.serialize(modelId, () => fs.rm(this.modelDir(modelId), { recursive: true, force: true }));
  }
}
