// `modelbay serve` in its own process, for tests that must see the server survive what they send
// (a crash there ends that process, not the test's) and read what it logged.
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";

const bin = path.resolve(import.meta.dirname, "../../bin/modelbay.mjs");

export interface ServedProcess {
  child: ChildProcess;
  address: string;
  /** The server's log without its per-call lines: warnings, errors, anything TensorFlow printed. */
  notableLog: () => string;
  /** Every line the server logged at level error. */
  loggedErrors: () => string[];
}

function notableLines(log: string): string {
  return log
    .split("\n")
    .filter((line) => !line.includes('"msg":"rpc"'))
    .slice(-40)
    .join("\n");
}

/** Starts a server on a free loopback port with its checkpoint store under `dir`. */
export function serveProcess(dir: string, args: string[]): Promise<ServedProcess> {
  const all = ["serve", "--address", "127.0.0.1:0", "--checkpoint-dir", path.join(dir, "ck"), ...args];
  const child = spawn(process.execPath, [bin, ...all], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  return new Promise((resolve, reject) => {
    child.stderr?.on("data", (chunk: Buffer) => {
      log += chunk.toString();
      const serving = log.match(/"msg":"serving".*?"address":"([^"]+)"/);
      if (serving?.[1]) {
        resolve({
          child,
          address: serving[1],
          notableLog: () => notableLines(log),
          loggedErrors: () => log.split("\n").filter((line) => line.includes('"level":"error"')),
        });
      }
    });
    child.on("exit", (code) => reject(new Error(`serve exited early with ${code}: ${log}`)));
  });
}
