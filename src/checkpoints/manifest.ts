// The manifest of a checkpoint: every file with its size and sha256, and a fingerprint of the
// whole. It is written last, so a directory without a valid manifest was never committed.
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";

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

export async function readManifest(dir: string): Promise<Manifest> {
  const manifest = JSON.parse(await fs.readFile(path.join(dir, MANIFEST_FILE), "utf8")) as Manifest;
  if (manifest.formatVersion !== 1 || !Array.isArray(manifest.files)) throw new Error("unknown manifest format");
  return manifest;
}

/** Reads every file the manifest lists and checks its size and hash. Returns the contents. */
export async function readVerified(dir: string): Promise<{ manifest: Manifest; files: Map<string, Buffer> }> {
  let manifest: Manifest;
  try {
    manifest = await readManifest(dir);
  } catch (err) {
    throw new CorruptCheckpointError(`manifest unreadable: ${err instanceof Error ? err.message : String(err)}`);
  }
  const files = new Map<string, Buffer>();
  for (const f of manifest.files) {
    if (f.path.includes("/") || f.path.startsWith("."))
      throw new CorruptCheckpointError(`manifest lists a bad path ${f.path}`);
    let data: Buffer;
    try {
      data = await fs.readFile(path.join(dir, f.path));
    } catch {
      throw new CorruptCheckpointError(`${f.path} is missing`);
    }
    if (data.byteLength !== f.size)
      throw new CorruptCheckpointError(`${f.path} has ${data.byteLength} bytes, manifest says ${f.size}`);
    if (sha256(data) !== f.sha256) throw new CorruptCheckpointError(`${f.path} does not match its sha256`);
    files.set(f.path, data);
  }
  if (fingerprintOf(manifest.files) !== manifest.fingerprint) throw new CorruptCheckpointError("fingerprint mismatch");
  return { manifest, files };
}

export class CorruptCheckpointError extends Error {
  override readonly name = "CorruptCheckpointError";
}
