// Checkpoint files mapped into memory (native/mapped-file, built by scripts/setup.sh): a restore
// then hashes and hands TensorFlow the page cache's own pages instead of copying every byte into
// fresh memory, whose first touch costs ~0.4 ms per MB here (301 MB: ~125 ms of page faults).
// Without the addon (not built, another platform) reads copy, as they always could.
import { createRequire } from "node:module";

interface MappedFileAddon {
  /** The whole file, mapped private (a write copies the page, never reaches the file). */
  mapFile(path: string): SharedArrayBuffer;
}

// The same relative path from src/checkpoints and from the compiled dist/checkpoints.
const ADDON = "../../native/mapped-file/build/Release/mapped_file.node";

let addon: MappedFileAddon | null | undefined;

function load(): MappedFileAddon | null {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(ADDON) as MappedFileAddon;
    } catch {
      addon = null;
    }
  }
  return addon;
}

/** Whether files can be mapped in this process. */
export function canMapFiles(): boolean {
  return load() !== null;
}

/**
 * `file` mapped into shared memory (a view of its pages; no copy), or undefined when mapping is not
 * available or the filesystem refuses it. The mapping ends once every thread has let the buffer go.
 * A missing file throws (with `code` "ENOENT").
 *
 * The file must not shrink while mapped (touching a page past its new end kills the process with
 * SIGBUS): the store's checkpoints are written once, renamed into place and only ever removed
 * whole, which leaves a mapping intact.
 */
export function mapFile(file: string): SharedArrayBuffer | undefined {
  const native = load();
  if (!native) return undefined;
  try {
    return native.mapFile(file);
  } catch (err) {
    const errno = (err as { errno?: number }).errno;
    // ENOENT (2): the caller reports a missing file; anything else falls back to reading.
    if (errno === 2) throw Object.assign(new Error((err as Error).message), { code: "ENOENT" });
    return undefined;
  }
}
