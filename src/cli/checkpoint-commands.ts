// `modelbay restore --verify`, `modelbay goldens make` and `modelbay checkpoint create|ls|show|rm`:
// the commands a CI job uses to prove that a checkpoint still restores and predicts what it should.
import fs from "node:fs";
import { compareOutput } from "../checkpoints/verify.js";
import { readNpy } from "../datasets/npy.js";
import { options, UsageError } from "./args.js";
import { type GoldensFile, readGoldens, tensorFromJson, tensorToJson } from "./goldens-file.js";
import { targetFrom } from "./targets.js";

const out = (line: string) => process.stdout.write(`${line}\n`);
const TARGET_OPTIONS = ["server", "store", "model", "checkpoint"] as const;

/** Exit 0 when every output is within tolerance, 1 with a report otherwise. */
export async function restoreVerify(args: string[]): Promise<number> {
  const o = options(args, [...TARGET_OPTIONS, "goldens", "atol", "rtol"], ["verify"]);
  const goldens = readGoldens(o.require("goldens"));
  const modelId = o.get("model") ?? goldens.model_id;
  if (!modelId) throw new UsageError("--model is required (or model_id in the goldens file)");
  const checkpointId = o.get("checkpoint") ?? "latest";
  const atol = Number(o.get("atol") ?? goldens.atol ?? 0);
  const rtol = Number(o.get("rtol") ?? goldens.rtol ?? 0);
  if (!(atol >= 0 && rtol >= 0)) throw new UsageError("--atol and --rtol must be numbers >= 0");
  const target = await targetFrom(o.get("server"), o.get("store"));
  try {
    const inputs = goldens.inputs.map((t, i) => ({ name: t.name, tensor: tensorFromJson(t, `inputs[${i}]`) }));
    const result = await target.predictFromCheckpoint(modelId, checkpointId, inputs);
    out(
      `restore --verify: model "${modelId}", checkpoint ${result.checkpointId}${checkpointId === "latest" ? " (latest)" : ""}, atol ${atol}, rtol ${rtol}`,
    );
    for (const w of result.warnings) out(`  warning: ${w}`);
    let passed = true;
    goldens.expected_outputs.forEach((e, i) => {
      const actual = (
        e.name === "" && result.outputs.length === 1 ? result.outputs[0] : result.outputs.find((x) => x.name === e.name)
      )?.tensor;
      if (!actual) {
        out(`  ${e.name}: FAIL, the model has no such output`);
        passed = false;
        return;
      }
      const check = compareOutput(e.name, actual, tensorFromJson(e, `expected_outputs[${i}]`), atol, rtol);
      passed &&= check.passed;
      out(
        `  ${check.name || "output"}: ${check.passed ? "PASS" : "FAIL"}, max abs error ${check.maxAbsError}, max rel error ${check.maxRelError}, ${check.mismatches} of ${actual.data.length} elements outside tolerance${check.problem ? ` (${check.problem})` : ""}`,
      );
    });
    out(passed ? "PASS" : "FAIL");
    return passed ? 0 : 1;
  } finally {
    target.close();
  }
}

/** Records the predictions of a checkpoint on given inputs (.npy) as a goldens file. */
export async function goldensMake(args: string[]): Promise<number> {
  const o = options(args, [...TARGET_OPTIONS, "inputs", "input-name", "out", "atol", "rtol"]);
  const modelId = o.require("model");
  const input = readNpy(fs.readFileSync(o.require("inputs")), "--inputs");
  const target = await targetFrom(o.get("server"), o.get("store"));
  try {
    const name = o.get("input-name") ?? "";
    const result = await target.predictFromCheckpoint(modelId, o.get("checkpoint") ?? "latest", [
      { name, tensor: input },
    ]);
    const goldens: GoldensFile = {
      model_id: modelId,
      checkpoint_id: result.checkpointId,
      atol: Number(o.get("atol") ?? 1e-5),
      rtol: Number(o.get("rtol") ?? 1e-5),
      inputs: [tensorToJson(name, input)],
      expected_outputs: result.outputs.map((x) => tensorToJson(x.name, x.tensor)),
    };
    fs.writeFileSync(o.require("out"), `${JSON.stringify(goldens)}\n`);
    out(`wrote goldens of ${modelId} ${result.checkpointId} (${input.shape[0]} rows) to ${o.get("out")}`);
    return 0;
  } finally {
    target.close();
  }
}

export async function checkpointCommand(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const o = options(rest, [...TARGET_OPTIONS], ["force", "json"]);
  const target = await targetFrom(o.get("server"), o.get("store"));
  try {
    const modelId = o.require("model");
    switch (action) {
      case "create":
        out(await target.createCheckpoint(modelId));
        return 0;
      case "ls":
      case "show": {
        let rows = await target.listCheckpoints(modelId);
        if (action === "show") {
          const wanted = o.get("checkpoint") ?? "latest";
          rows = rows.filter((r) => (wanted === "latest" ? r.latest : r.id === wanted));
          if (rows.length === 0) throw new UsageError(`no checkpoint ${wanted} of model "${modelId}"`);
        }
        if (o.flag("json")) out(JSON.stringify(rows, null, 2));
        else
          for (const r of rows) {
            const metrics = Object.entries(r.metrics)
              .map(([k, v]) => `${k}=${v.toPrecision(5)}`)
              .join(" ");
            out(
              `${r.id}${r.latest ? " latest" : ""}  epoch ${r.epoch}  step ${r.step}  ${r.sizeBytes} B  ${r.createTime?.toISOString() ?? ""}  ${metrics}${action === "show" ? `\n  fingerprint ${r.fingerprint}` : ""}`,
            );
          }
        return 0;
      }
      case "rm":
        await target.deleteCheckpoint(modelId, o.require("checkpoint"), o.flag("force"));
        out(`deleted ${o.get("checkpoint")}`);
        return 0;
      default:
        throw new UsageError(`checkpoint: unknown action "${action ?? ""}" (create, ls, show, rm)`);
    }
  } finally {
    target.close();
  }
}
