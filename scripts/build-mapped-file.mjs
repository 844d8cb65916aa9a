#!/usr/bin/env node
// Builds native/mapped-file (the addon that maps checkpoint files for restores) with node-gyp
// against the local Node headers, when its build is missing or older than its sources. Without it
// modelbay runs and restores by copying (--checkpoint-reads copied). Exit 0 when built (or up to
// date), 1 when the build failed (the message says why).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { findNodeHeaders } from "./provision-native.mjs";

const require = createRequire(import.meta.url);
const dir = path.resolve(import.meta.dirname, "..", "native", "mapped-file");
const built = path.join(dir, "build", "Release", "mapped_file.node");
const log = (msg) => process.stderr.write(`[mapped-file] ${msg}\n`);

const newestSource = Math.max(...["binding.gyp", "mapped_file.cc"].map((f) => fs.statSync(path.join(dir, f)).mtimeMs));
// A build for another Node (its ABI) would not load: rebuild then too.
const loads = () => spawnSync(process.execPath, ["-e", `require(${JSON.stringify(built)})`]).status === 0;
if (fs.existsSync(built) && fs.statSync(built).mtimeMs >= newestSource && loads()) process.exit(0);

try {
  const nodedir = findNodeHeaders();
  log("building with node-gyp");
  const r = spawnSync(
    process.execPath,
    [require.resolve("node-gyp/bin/node-gyp.js"), "rebuild", `--nodedir=${nodedir}`, "-C", dir],
    { encoding: "utf8", env: { ...process.env, npm_config_nodedir: nodedir } },
  );
  if (r.status !== 0 || !loads()) {
    log(
      `node-gyp exited with ${r.status ?? r.signal}:\n${`${r.stdout ?? ""}\n${r.stderr ?? ""}`.trim().split("\n").slice(-15).join("\n")}`,
    );
    throw new Error("the build failed or does not load");
  }
  log(`built ${path.relative(process.cwd(), built)}`);
} catch (err) {
  log(
    `FAILED: ${err instanceof Error ? err.message : String(err)}; restores will copy checkpoint files instead of mapping them`,
  );
  process.exit(1);
}
