// `modelbay serve` in a process of its own, as deployed, for benchmarks that compare settings a
// process holds for good (--background-nice, TensorFlow's environment). Its log is read only up to the line saying where it
// listens: parsing every per-call line would take CPU from the server and its load.
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";

const bin = path.resolve(import.meta.dirname, "../bin/modelbay.mjs");

export interface ServedForBench {
  child: ChildProcess;
  address: string;
  /** SIGTERM, then waits for the process to exit. */
  stop(): Promise<void>;
}

/** "--flag v VAR=value": the server's added arguments, and environment over this process's. */
function parseSetting(setting: string): { args: string[]; env: Record<string, string> } {
  const args: string[] = [];
  const env: Record<string, string> = {};
  for (const word of setting.split(/\s+/).filter(Boolean)) {
    const assignment = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(word);
    if (assignment) env[assignment[1] as string] = assignment[2] as string;
    else args.push(word);
  }
  return { args, env };
}

/**
 * A server on a free loopback port, checkpoints under `dir`/ck and data files under `dir`, with a
 * `setting` of flags and/or VAR=value words (e.g. "--background-nice 10 TF_NUM_INTRAOP_THREADS=1").
 */
export function serveForBench(dir: string, setting: string): Promise<ServedForBench> {
  const { args, env } = parseSetting(setting);
  const all = ["serve", "--address", "127.0.0.1:0", "--checkpoint-dir", path.join(dir, "ck"), "--data-dir", dir];
  const child = spawn(process.execPath, [bin, ...all, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, ...env },
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  let log = "";
  return new Promise((resolve, reject) => {
    const read = (chunk: Buffer) => {
      log += chunk.toString();
      const serving = /"msg":"serving".*?"address":"([^"]+)"/.exec(log);
      if (!serving?.[1]) return;
      child.stderr?.off("data", read);
      child.stderr?.resume();
      resolve({ child, address: serving[1], stop });
    };
    child.stderr?.on("data", read);
    child.on("exit", (code) => reject(new Error(`serve exited early with ${code}: ${log}`)));
  });
}
