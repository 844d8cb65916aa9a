#!/usr/bin/env node
// Provisions the native TensorFlow backend for @tensorflow/tfjs-node without its installer.
//
// tfjs-node's own install script downloads libtensorflow 2.9.1 and a prebuilt addon from a host
// this project cannot rely on. Instead we take the TensorFlow C API library and headers from the
// PyPI tensorflow-cpu wheel (a zip), lay them out where tfjs-node's binding.gyp expects them, and
// build the addon from source with node-gyp against the local Node headers.
//
// Idempotent: a stamp records what was installed; re-runs verify and exit. Offline re-runs use the
// cache (MODELBAY_CACHE_DIR, default $XDG_CACHE_HOME/modelbay or ~/.cache/modelbay).
// Exit codes: 0 installed (or not applicable on this platform), 1 failed (message says why and how
// to fix). Never leaves an addon that has not passed a load check in a child process.

import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";

const require = createRequire(import.meta.url);

export const TF_VERSION = "2.18.0";
const WHEEL = {
  name: `tensorflow_cpu-${TF_VERSION}-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl`,
  sha256: "089e71746960ea581dca53401f84b3b99c8537313e337a9e5dbf97036a936f7e",
  requirement: `tensorflow-cpu==${TF_VERSION}`,
};
// Only the C API surface tfjs-node's binding compiles against, plus the headers it pulls in.
const WHEEL_MEMBERS = {
  libs: ["tensorflow/libtensorflow_cc.so.2", "tensorflow/libtensorflow_framework.so.2"],
  headerPrefixes: [
    "tensorflow/include/tensorflow/c/",
    "tensorflow/include/tensorflow/core/platform/ctstring",
    "tensorflow/include/tsl/platform/ctstring",
    "tensorflow/include/xla/tsl/c/",
  ],
};
// tfjs-node's installer skips its download when these names exist in deps/lib.
const TFJS_LIB_ALIASES = {
  "libtensorflow.so": "libtensorflow_cc.so.2",
  "libtensorflow.so.2.9.1": "libtensorflow_cc.so.2",
  "libtensorflow_framework.so": "libtensorflow_framework.so.2",
  "libtensorflow_framework.so.2.9.1": "libtensorflow_framework.so.2",
};

const log = (msg) => process.stderr.write(`[provision-native] ${msg}\n`);

class ProvisionError extends Error {
  constructor(step, message, fix) {
    super(`${step}: ${message}\n  how to fix: ${fix}`);
  }
}

export function cacheDir() {
  if (process.env.MODELBAY_CACHE_DIR) return process.env.MODELBAY_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(base, "modelbay");
}

function sha256File(file) {
  const hash = createHash("sha256");
  const fd = fs.openSync(file, "r");
  const buf = Buffer.allocUnsafe(1 << 22);
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest("hex");
}

function findPython() {
  for (const candidate of ["python3", "python"]) {
    const r = spawnSync(candidate, ["-c", "import sys, zipfile; print(sys.version_info[0])"], {
      encoding: "utf8",
    });
    if (r.status === 0 && r.stdout.trim() === "3") return candidate;
  }
  throw new ProvisionError(
    "python",
    "no python3 found (needed for pip download and unzip)",
    "install Python 3 with pip (Debian: apt-get install python3 python3-pip)",
  );
}

function ensureWheel(python) {
  const dir = path.join(cacheDir(), "wheels");
  const file = path.join(dir, WHEEL.name);
  if (fs.existsSync(file) && sha256File(file) === WHEEL.sha256) return file;
  fs.mkdirSync(dir, { recursive: true });
  log(`downloading ${WHEEL.requirement} wheel (about 230 MB) into ${dir}`);
  // Pin the target tag so the same file is fetched whatever the local Python version is.
  const r = spawnSync(
    python,
    [
      "-m",
      "pip",
      "download",
      "--no-deps",
      "--only-binary=:all:",
      "--disable-pip-version-check",
      "--python-version",
      "3.11",
      "--platform",
      "manylinux2014_x86_64",
      "-d",
      dir,
      WHEEL.requirement,
    ],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  if (r.status !== 0 || !fs.existsSync(file)) {
    throw new ProvisionError(
      "download",
      `pip could not fetch ${WHEEL.requirement} and no cached copy is at ${file}`,
      `give this machine access to PyPI, or place ${WHEEL.name} in ${dir}`,
    );
  }
  const got = sha256File(file);
  if (got !== WHEEL.sha256) {
    fs.rmSync(file, { force: true });
    throw new ProvisionError(
      "verify wheel",
      `sha256 ${got} does not match the pinned ${WHEEL.sha256}`,
      "re-run to download again; if it persists the index serves a different file",
    );
  }
  return file;
}

/** Extracts the libraries and headers once into the cache; returns that directory. */
function ensureExtracted(python, wheel) {
  const root = path.join(cacheDir(), `libtensorflow-${TF_VERSION}`);
  const done = path.join(root, ".complete");
  if (fs.existsSync(done)) return root;
  const tmp = `${root}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  log(`extracting the TensorFlow C library and headers into ${root}`);
  const script = `
import sys, zipfile, os, shutil
wheel, out, libs, prefixes = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4].split(",")
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        if name.endswith("/"):
            continue
        if name in libs:
            dest = os.path.join(out, "lib", os.path.basename(name))
        elif any(name.startswith(p) for p in prefixes):
            dest = os.path.join(out, "include", name[len("tensorflow/include/"):])
        else:
            continue
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(info) as src, open(dest, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 22)
`;
  execFileSync(
    python,
    ["-c", script, wheel, tmp, WHEEL_MEMBERS.libs.join(","), WHEEL_MEMBERS.headerPrefixes.join(",")],
    { stdio: "inherit" },
  );
  for (const lib of WHEEL_MEMBERS.libs) {
    if (!fs.existsSync(path.join(tmp, "lib", path.basename(lib)))) {
      throw new ProvisionError("extract", `${lib} is missing from the wheel`, "delete the cached wheel and re-run");
    }
  }
  fs.writeFileSync(path.join(tmp, ".complete"), `${TF_VERSION}\n`);
  fs.rmSync(root, { recursive: true, force: true });
  fs.renameSync(tmp, root);
  return root;
}

/** The tfjs-node package to provision: ours, or MODELBAY_TFJS_NODE_DIR (tests use a copy). */
function tfjsNodePaths() {
  const pkgJson = process.env.MODELBAY_TFJS_NODE_DIR
    ? path.join(path.resolve(process.env.MODELBAY_TFJS_NODE_DIR), "package.json")
    : require.resolve("@tensorflow/tfjs-node/package.json");
  const dir = path.dirname(pkgJson);
  const pkg = JSON.parse(fs.readFileSync(pkgJson, "utf8"));
  // Resolve the addon path exactly as tfjs-node does at load time.
  const preGyp = require(require.resolve("@mapbox/node-pre-gyp", { paths: [dir, import.meta.dirname] }));
  const bindingPath = preGyp.find(pkgJson);
  const napiVersion = /napi-v(\d+)/.exec(bindingPath)?.[1];
  return { dir, version: pkg.version, bindingPath, napiVersion };
}

export function findNodeHeaders() {
  const candidates = [process.env.npm_config_nodedir, path.resolve(path.dirname(process.execPath), "..")].filter(
    Boolean,
  );
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, "include", "node", "common.gypi"))) return dir;
  }
  throw new ProvisionError(
    "node headers",
    `no Node.js headers (include/node/common.gypi) under ${candidates.join(" or ")}`,
    "install Node.js with its headers (the nodejs package from nodesource or nodejs.org includes them) or set npm_config_nodedir",
  );
}

function layOutDeps(tfjs, libRoot) {
  const deps = path.join(tfjs.dir, "deps");
  fs.rmSync(deps, { recursive: true, force: true });
  fs.mkdirSync(path.join(deps, "lib"), { recursive: true });
  for (const lib of WHEEL_MEMBERS.libs) {
    const base = path.basename(lib);
    fs.symlinkSync(path.join(libRoot, "lib", base), path.join(deps, "lib", base));
  }
  // Aliases point at the real .so.2 files so the linker records their SONAME.
  for (const [alias, target] of Object.entries(TFJS_LIB_ALIASES)) {
    fs.symlinkSync(target, path.join(deps, "lib", alias));
  }
  fs.symlinkSync(path.join(libRoot, "include"), path.join(deps, "include"));
}

// modelbay's additions to the addon (native/tfjs-node-additions), spliced into tfjs-node's binding
// sources at these anchors:
// - tensorDataInto, which copies a tensor's bytes into memory the caller gives (a checkpoint's
//   shared ring) where tensorDataSync allocates a new buffer per read;
// - setSessionIntraOpThreads, the intra-op threads of the next loadSavedModel's session (the graph
//   trainer runs small steps on one thread).
// An addon without them still works (reads go through tensorDataSync, sessions take TensorFlow's
// default), and the backend test fails.
const ADDITIONS_DIR = path.resolve(import.meta.dirname, "..", "native", "tfjs-node-additions");
const ADDITIONS_FILES = { "backend.inc": "modelbay_backend.inc", "binding.inc": "modelbay_binding.inc" };
const ADDITIONS_EDITS = [
  {
    file: "tfjs_backend.h",
    anchor: "  napi_value GetTensorData(napi_env env, napi_value tensor_id_value);\n",
    text:
      "  // modelbay: native/tfjs-node-additions/backend.inc\n" +
      "  napi_value TensorDataInto(napi_env env, napi_value tensor_id_value,\n" +
      "                            napi_value byte_offset_value, napi_value into_value);\n" +
      "  napi_value SetSessionIntraOpThreads(napi_env env, napi_value threads_value);\n" +
      "  void ApplySessionIntraOpThreads(TF_SessionOptions *options);\n" +
      "  int32_t next_session_intra_op_threads_ = 0;\n",
    after: true,
  },
  {
    file: "tfjs_backend.cc",
    anchor: "  TF_SessionOptions *session_options = TF_NewSessionOptions();\n",
    text: "  ApplySessionIntraOpThreads(session_options);  // modelbay\n",
    after: true,
  },
  { file: "tfjs_backend.cc", anchor: null, text: '\n#include "modelbay_backend.inc"\n', after: true },
  {
    file: "tfjs_binding.cc",
    anchor: "static napi_value ExecuteOp(napi_env env, napi_callback_info info) {",
    text: '#include "modelbay_binding.inc"\n\n',
    after: false,
  },
  {
    file: "tfjs_binding.cc",
    anchor:
      '      {"tensorDataSync", nullptr, TensorDataSync, nullptr, nullptr, nullptr,\n       napi_default, nullptr},\n',
    text:
      '      {"tensorDataInto", nullptr, TensorDataInto, nullptr, nullptr, nullptr,\n       napi_default, nullptr},\n' +
      '      {"setSessionIntraOpThreads", nullptr, SetSessionIntraOpThreads, nullptr,\n       nullptr, nullptr, napi_default, nullptr},\n',
    after: true,
  },
];

/** A short digest of the additions (sources and splices), so that a change to them rebuilds the addon. */
function additionsDigest() {
  const hash = createHash("sha256");
  for (const name of Object.keys(ADDITIONS_FILES)) hash.update(fs.readFileSync(path.join(ADDITIONS_DIR, name)));
  hash.update(JSON.stringify(ADDITIONS_EDITS));
  return hash.digest("hex").slice(0, 12);
}

/** Splices the additions into the binding sources (idempotent); false, with a warning, if they changed shape. */
function addAdditions(tfjs) {
  const dir = path.join(tfjs.dir, "binding");
  const sources = Object.fromEntries(
    [...new Set(ADDITIONS_EDITS.map((e) => e.file))].map((f) => [f, fs.readFileSync(path.join(dir, f), "utf8")]),
  );
  for (const edit of ADDITIONS_EDITS) {
    const source = sources[edit.file];
    if (source.includes(edit.text)) continue;
    if (edit.anchor === null) {
      sources[edit.file] = source + edit.text;
      continue;
    }
    if (!source.includes(edit.anchor)) {
      log(`tfjs-node ${tfjs.version}'s ${edit.file} lacks the expected code; building without modelbay's additions`);
      return false;
    }
    sources[edit.file] = edit.after
      ? source.replace(edit.anchor, edit.anchor + edit.text)
      : source.replace(edit.anchor, edit.text + edit.anchor);
  }
  for (const [from, to] of Object.entries(ADDITIONS_FILES))
    fs.copyFileSync(path.join(ADDITIONS_DIR, from), path.join(dir, to));
  for (const [file, text] of Object.entries(sources)) fs.writeFileSync(path.join(dir, file), text);
  return true;
}

function buildAddon(tfjs, nodedir) {
  const additions = addAdditions(tfjs) ? `_additions-${additionsDigest()}` : "";
  const cacheKey = `tfjs-node-${tfjs.version}_tf-${TF_VERSION}_napi-${tfjs.napiVersion}_${process.arch}${additions}`;
  const cached = path.join(cacheDir(), "addon", cacheKey, "tfjs_binding.node");
  if (fs.existsSync(cached)) {
    log(`using the cached addon ${cached}`);
  } else {
    log("building the tfjs-node addon from source with node-gyp");
    const nodeGyp = require.resolve("node-gyp/bin/node-gyp.js");
    const r = spawnSync(
      process.execPath,
      [
        nodeGyp,
        "rebuild",
        `--nodedir=${nodedir}`,
        `--napi_build_version=${tfjs.napiVersion}`,
        "--module_name=tfjs_binding",
        `--module_path=${path.dirname(tfjs.bindingPath)}`,
      ],
      { cwd: tfjs.dir, encoding: "utf8", env: { ...process.env, npm_config_nodedir: nodedir } },
    );
    const buildLog = path.join(cacheDir(), "addon", `${cacheKey}.build.log`);
    fs.mkdirSync(path.dirname(buildLog), { recursive: true });
    fs.writeFileSync(buildLog, `${r.stdout ?? ""}\n${r.stderr ?? ""}`);
    const built = path.join(tfjs.dir, "build", "Release", "tfjs_binding.node");
    if (r.status !== 0 || !fs.existsSync(built)) {
      throw new ProvisionError(
        "build addon",
        `node-gyp exited with ${r.status ?? r.signal}; its output is in ${buildLog}`,
        "install a C++ toolchain and make (Debian: apt-get install build-essential python3) and re-run",
      );
    }
    fs.mkdirSync(path.dirname(cached), { recursive: true });
    fs.copyFileSync(built, `${cached}.tmp`);
    fs.renameSync(`${cached}.tmp`, cached);
  }
  fs.mkdirSync(path.dirname(tfjs.bindingPath), { recursive: true });
  fs.copyFileSync(cached, tfjs.bindingPath);
}

/** Loads tfjs-node in a child process (a broken addon may crash) and runs one op. */
function verifyLoads(tfjs) {
  const probe = `
const tf = require(${JSON.stringify(tfjs.dir)});
const y = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).dataSync()[0];
if (tf.getBackend() !== "tensorflow" || y !== 11) { console.error("unexpected", tf.getBackend(), y); process.exit(3); }
console.log(tf.backend().binding.TF_Version);
`;
  const r = spawnSync(process.execPath, ["-e", probe], {
    encoding: "utf8",
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: "2" },
  });
  if (r.status !== 0) {
    return { ok: false, detail: (r.stderr || "").split("\n").slice(-8).join("\n") || `exit ${r.status ?? r.signal}` };
  }
  return { ok: true, tfVersion: r.stdout.trim() };
}

function stampFile(tfjs) {
  return path.join(tfjs.dir, "deps", ".modelbay-provisioned");
}

function expectedStamp(tfjs) {
  return `${tfjs.version} ${TF_VERSION} ${WHEEL.sha256} ${tfjs.bindingPath} additions-${additionsDigest()}`;
}

export function provision() {
  if (process.platform !== "linux" || process.arch !== "x64") {
    log(`no native TensorFlow build for ${process.platform}-${process.arch}; modelbay will use WASM`);
    return { installed: false };
  }
  const tfjs = tfjsNodePaths();
  const stamp = stampFile(tfjs);
  if (
    fs.existsSync(stamp) &&
    fs.readFileSync(stamp, "utf8") === expectedStamp(tfjs) &&
    fs.existsSync(tfjs.bindingPath)
  ) {
    const check = verifyLoads(tfjs);
    if (check.ok) {
      log(`native TensorFlow ${check.tfVersion} already provisioned`);
      return { installed: true, tfVersion: check.tfVersion };
    }
    log("the provisioned addon no longer loads; provisioning again");
  }
  fs.rmSync(tfjs.bindingPath, { force: true });
  const python = findPython();
  const wheel = ensureWheel(python);
  const libRoot = ensureExtracted(python, wheel);
  const nodedir = findNodeHeaders();
  layOutDeps(tfjs, libRoot);
  buildAddon(tfjs, nodedir);
  const check = verifyLoads(tfjs);
  if (!check.ok) {
    fs.rmSync(tfjs.bindingPath, { force: true });
    throw new ProvisionError(
      "load check",
      `the built addon does not load:\n${check.detail}`,
      `delete ${path.join(cacheDir(), "addon")} and re-run; report the message above if it persists`,
    );
  }
  fs.writeFileSync(stamp, expectedStamp(tfjs));
  log(`native TensorFlow ${check.tfVersion} provisioned for tfjs-node ${tfjs.version}`);
  return { installed: true, tfVersion: check.tfVersion };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    provision();
  } catch (err) {
    log(`FAILED at ${err instanceof Error ? err.message : String(err)}`);
    log("modelbay still runs on the WASM backend, but slower (set MODELBAY_BACKEND=wasm to silence this)");
    process.exit(1);
  }
}
