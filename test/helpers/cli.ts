import { spawn } from "node:child_process";
import path from "node:path";

const bin = path.resolve(import.meta.dirname, "../../bin/modelbay.mjs");

/** Runs the CLI without blocking: the server it talks to may live in this process. */
export function modelbay(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "2" } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => child.on("close", (status) => resolve({ status, stdout, stderr })));
}
