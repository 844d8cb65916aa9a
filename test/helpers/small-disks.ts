// Small filesystems a test can fill up: tmpfs (no direct I/O) and ext4 on a loop device (direct
// I/O works there). Mounting needs root on Linux; tests skip, saying so, elsewhere.
import { execFileSync } from "node:child_process";
import fs from "node:fs";

export const canMount = process.getuid?.() === 0 && process.platform === "linux";

export function mountTmpfs(dir: string, size: string): boolean {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** An 8 MB ext4 made in `image` and mounted at `dir`; false where there is no loop device or mkfs. */
export function mountSmallExt4(dir: string, image: string): boolean {
  try {
    fs.writeFileSync(image, "");
    fs.truncateSync(image, 8 * 2 ** 20);
    execFileSync("mkfs.ext4", ["-q", "-F", image], { stdio: "ignore" });
    execFileSync("mount", ["-o", "loop", image, dir], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export function unmount(dir: string): void {
  execFileSync("umount", [dir]);
}
