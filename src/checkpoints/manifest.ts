// The manifest of a checkpoint: every file with its size and sha256, and a fingerprint of the
// whole. It is written last, so a directory without a valid manifest was never committed.
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { COLLECT_AFTER_BYTES } from "../collect-garbage.js";
import { alignedSharedBuffer } from "../shared-memory.js";
import { sharedHash } from "./hash-pool.js";
import { mapFile } from "./mapped-file.js";

export const MANIFEST_FILE = "MANIFEST.json";

export interface ManifestFile {
  path: string;
  size: number;
  sha256: string;
}

export interface Manifest {
  formatVersion: 1;
  files: ManifestFile[];
  fingerprint: string;
}

export const sha256 = (data: Buffer | Uint8Array) => createHash("sha256").update(data).digest("hex");

export function fingerprintOf(files: readonly ManifestFile[]): string {
  const lines = [...files].sort((a, b) => a.path.localeCompare(b.path)).map((f) => `${f.path} ${f.size} ${f.sha256}\n`);
  return sha256(Buffer.from(lines.join("")));
}

export function manifestOf(entries: ManifestFile[]): Manifest {
  return { formatVersion: 1, files: entries, fingerprint: fingerprintOf(entries) };
}

/** A problem found while verifying; `undefined` from verifyDirectory means the checkpoint is intact. */
export type Corruption = string;

const isManifestFile = (f: unknown): f is ManifestFile => {
  const { path: p, size, sha256: digest } = (f ?? {}) as Partial<ManifestFile>;
  return (
    typeof p === "string" &&
    p.length > 0 &&
    Number.isSafeInteger(size) &&
    (size as number) >= 0 &&
    typeof digest === "string" &&
    /^[0-9a-f]{64}$/.test(digest)
  );
};

export async function readManifest(dir: string): Promise<Manifest> {
  const manifest = JSON.parse(await fs.readFile(path.join(dir, MANIFEST_FILE), "utf8")) as Manifest;
  if (manifest?.formatVersion !== 1 || !Array.isArray(manifest.files)) throw new Error("unknown manifest format");
  // Every field the reader relies on, so that a damaged manifest reads as corrupt, not as a crash.
  const bad = manifest.files.findIndex((f) => !isManifestFile(f));
  if (bad >= 0) throw new Error(`files[${bad}] needs a path, a size and a sha256`);
  if (typeof manifest.fingerprint !== "string") throw new Error("no fingerprint");
  return manifest;
}

const READ_CHUNK = 16 * 2 ** 20;
// Files under this size (the JSON ones) are read first, for a placement to look at.
const SMALL_FILE_BYTES = 2 ** 20;
// Files at least this large are mapped (with reads "mapped"): below, the page faults a mapping saves
// cost a few ms at most, and a dropped mapping is collected (which ends it) only from this size on.
const MAPPED_FILE_MIN_BYTES = COLLECT_AFTER_BYTES;
/**
 * How a checkpoint's large files are read: "mapped" into memory where the platform allows (the page
 * cache's pages, shared with the restored model; see mapped-file.ts), or "copied" into fresh memory.
 */
export type CheckpointReads = "mapped" | "copied";

/** `file` mapped, hashed on a helper thread; undefined when it cannot be mapped. */
async function mapHashed(file: string, name: string, size: number): Promise<HashedRead | undefined> {
  let shared: SharedArrayBuffer | undefined;
  try {
    shared = mapFile(file);
  } catch {
    throw new CorruptCheckpointError(`${name} is missing`);
  }
  if (!shared) return undefined;
  if (shared.byteLength !== size)
    throw new CorruptCheckpointError(`${name} has ${shared.byteLength} bytes, manifest says ${size}`);
  const hash = sharedHash(shared);
  hash.update(0, size);
  return { data: Buffer.from(shared, 0, size), digest: hash.digest() };
}

/** A file's bytes, in place, and their sha256, which may still be being computed. */
interface HashedRead {
  data: Buffer;
  digest: Promise<string>;
}

/**
 * Reads a file of `size` bytes into its own shared allocation (so tensors can be views into it and
 * a device thread can use it without a copy) while a helper thread hashes each chunk that has
 * arrived, and the next chunk is read meanwhile. With `reads` "mapped", a large file that needs no
 * shift is mapped instead, and its bytes are there at once (the hash reads them from the disk).
 */
async function readHashed(
  file: string,
  name: string,
  size: number,
  shift: number,
  reads: CheckpointReads,
): Promise<HashedRead> {
  if (reads === "mapped" && shift === 0 && size >= MAPPED_FILE_MIN_BYTES) {
    const mapped = await mapHashed(file, name, size);
    if (mapped) return mapped;
  }
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, "r");
  } catch {
    throw new CorruptCheckpointError(`${name} is missing`);
  }
  try {
    const actual = (await handle.stat()).size;
    if (actual !== size) throw new CorruptCheckpointError(`${name} has ${actual} bytes, manifest says ${size}`);
    const shared = alignedSharedBuffer(shift + size);
    const data = Buffer.from(shared, shift, size);
    const hash = sharedHash(shared);
    try {
      let offset = 0;
      while (offset < size) {
        const n = (await handle.read(data, offset, Math.min(READ_CHUNK, size - offset), offset)).bytesRead;
        if (n === 0) throw new CorruptCheckpointError(`${name} ended after ${offset} bytes, manifest says ${size}`);
        hash.update(shift + offset, shift + offset + n);
        offset += n;
      }
    } catch (err) {
      hash.abandon();
      throw err;
    }
    return { data, digest: hash.digest() };
  } finally {
    await handle.close();
  }
}

/**
 * Where a file's first byte goes in its buffer (whose start is page-aligned): a shift of a few bytes
 * can put a large tensor inside it on a 64-byte boundary, where TensorFlow uses the memory as it is
 * (it copies tensors from other addresses). Given the small files of the checkpoint, already read.
 */
export type Placement = (name: string, small: ReadonlyMap<string, Buffer>) => number;

/** A checkpoint's files, read; the large ones' hashes may still be being checked. */
export interface CheckedRead {
  manifest: Manifest;
  files: Map<string, Buffer>;
  /**
   * Settles once every large file's sha256 is checked: rejects with a CorruptCheckpointError if
   * one does not match. Until then their bytes may be used, but nothing built from them may be
   * trusted or shown.
   */
  verified: Promise<void>;
}

/**
 * Reads every file the manifest lists and checks its size: the small ones first, hashes checked,
 * then the others at once, placed by `placement` (or mapped, see CheckpointReads), their hashes
 * checked in the background (`verified`), so that a caller can start building from them meanwhile.
 */
export async function readChecked(
  dir: string,
  placement?: Placement,
  reads: CheckpointReads = "copied",
): Promise<CheckedRead> {
  let manifest: Manifest;
  try {
    manifest = await readManifest(dir);
  } catch (err) {
    throw new CorruptCheckpointError(`manifest unreadable: ${err instanceof Error ? err.message : String(err)}`);
  }
  for (const f of manifest.files) {
    if (f.path.includes("/") || f.path.startsWith("."))
      throw new CorruptCheckpointError(`manifest lists a bad path ${f.path}`);
  }
  if (fingerprintOf(manifest.files) !== manifest.fingerprint) throw new CorruptCheckpointError("fingerprint mismatch");
  const check = async (f: ManifestFile, digest: Promise<string>) => {
    if ((await digest) !== f.sha256) throw new CorruptCheckpointError(`${f.path} does not match its sha256`);
  };
  const read = (f: ManifestFile, shift: number) =>
    readHashed(path.join(dir, f.path), f.path, f.size, shift, reads).then((r) => ({ f, ...r }));
  const small = await Promise.all(manifest.files.filter((f) => f.size < SMALL_FILE_BYTES).map((f) => read(f, 0)));
  await Promise.all(small.map((r) => check(r.f, r.digest)));
  const smallFiles = new Map(small.map((r) => [r.f.path, r.data] as const));
  const settled = await Promise.allSettled(
    manifest.files.filter((f) => f.size >= SMALL_FILE_BYTES).map((f) => read(f, placement?.(f.path, smallFiles) ?? 0)),
  );
  const large = settled.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const verified = Promise.all(large.map((r) => check(r.f, r.digest))).then(() => undefined);
  const failed = settled.find((r) => r.status === "rejected");
  if (failed) {
    // The files that were read are still being hashed: wait for that, so none is left mapped.
    await verified.catch(() => undefined);
    throw failed.reason;
  }
  return { manifest, files: new Map([...smallFiles, ...large.map((r) => [r.f.path, r.data] as const)]), verified };
}

/** Reads every file the manifest lists and checks its size and hash (readChecked, waited for). */
export async function readVerified(
  dir: string,
  placement?: Placement,
  reads: CheckpointReads = "copied",
): Promise<{ manifest: Manifest; files: Map<string, Buffer> }> {
  const { manifest, files, verified } = await readChecked(dir, placement, reads);
  await verified;
  return { manifest, files };
}

export class CorruptCheckpointError extends Error {
  override readonly name = "CorruptCheckpointError";
}
