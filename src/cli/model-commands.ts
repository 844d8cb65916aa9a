// `modelbay model create|ls|show|rm` and `modelbay restore` into a running server: the sessions a
// user otherwise opens through a client library.
import fs from "node:fs";
import { ModelInfo, ModelSpec } from "../gen/modelbay/v1/model.js";
import { DataType, type TensorInfo } from "../gen/modelbay/v1/tensor.js";
import { isJsonObject } from "../json-object.js";
import { options, UsageError } from "./args.js";
import { connect, defaultServerAddress } from "./client.js";
import { classicDenseSpec, customBlockSpec } from "./example-specs.js";

const out = (line: string) => process.stdout.write(`${line}\n`);

const EXAMPLES: Record<string, () => ModelSpec> = {
  classic: () => classicDenseSpec(),
  "custom-block": () => customBlockSpec(),
};

/** A file's text, which must be JSON. */
function readJsonText(file: string, flag: string): { text: string; json: unknown } {
  try {
    const text = fs.readFileSync(file, "utf8");
    return { text, json: JSON.parse(text) };
  } catch (err) {
    throw new UsageError(`${flag} ${file}: ${(err as Error).message}`);
  }
}

/**
 * The spec to build: an example, a ModelSpec in protobuf JSON (or `model show`'s output), or a
 * Keras `model.to_json()` file with the rest of the spec (compile, names) from --spec.
 */
export function specFrom(o: { get(k: string): string | undefined }): ModelSpec {
  const example = o.get("example");
  const specFile = o.get("spec");
  const kerasFile = o.get("keras-json");
  if ([example, specFile, kerasFile].filter((x) => x !== undefined).length === 0)
    throw new UsageError("model create needs --spec FILE, --keras-json FILE or --example NAME");
  if (example !== undefined) {
    if (specFile !== undefined || kerasFile !== undefined)
      throw new UsageError("--example cannot be combined with --spec or --keras-json");
    const make = EXAMPLES[example];
    if (!make) throw new UsageError(`unknown example "${example}" (${Object.keys(EXAMPLES).join(", ")})`);
    return make();
  }
  const json = specFile === undefined ? {} : readJsonText(specFile, "--spec").json;
  if (!isJsonObject(json)) throw new UsageError(`--spec ${specFile}: not a JSON object (a ModelSpec)`);
  // What `model show` prints is a ModelInfo: its spec is the one to copy.
  const spec = ModelSpec.fromJSON(isJsonObject(json.spec) && "modelId" in json ? json.spec : json);
  if (kerasFile !== undefined) {
    if (spec.topology) throw new UsageError("--keras-json gives the topology; --spec may then only hold the rest");
    // Sent as written: the server parses it and names what it cannot build.
    spec.topology = { $case: "kerasJson", kerasJson: readJsonText(kerasFile, "--keras-json").text };
  }
  return spec;
}

const DTYPE_NAMES: Partial<Record<DataType, string>> = {
  [DataType.DATA_TYPE_FLOAT32]: "float32",
  [DataType.DATA_TYPE_INT32]: "int32",
  [DataType.DATA_TYPE_BOOL]: "bool",
  [DataType.DATA_TYPE_FLOAT64]: "float64",
  [DataType.DATA_TYPE_INT64]: "int64",
};

const signature = (ts: TensorInfo[]) =>
  ts.map((t) => `${t.name} ${DTYPE_NAMES[t.dtype] ?? "?"}[${t.shape.join(",")}]`).join(", ");

/** One line per model: what `model ls` prints and `model create` confirms. */
export function modelLine(m: ModelInfo): string {
  const where = m.placement ? `${m.placement.device} ${m.placement.backend}` : "";
  return `${m.modelId}  ${m.source}  ${where}  ${m.parameterCount} parameters${m.resident ? "" : "  (evicted)"}  ${signature(m.inputs)} -> ${signature(m.outputs)}`;
}

export async function modelCommand(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const o = options(rest, ["server", "model", "spec", "keras-json", "example"], ["delete-checkpoints", "json"]);
  const client = connect(o.get("server") ?? defaultServerAddress());
  try {
    switch (action) {
      case "create": {
        const spec = specFrom(o);
        const { model } = await client.createModel({ modelId: o.get("model") ?? "", spec });
        if (model) out(o.flag("json") ? JSON.stringify(ModelInfo.toJSON(model), null, 2) : modelLine(model));
        return 0;
      }
      case "ls": {
        const { models } = await client.listModels({});
        if (o.flag("json"))
          out(
            JSON.stringify(
              models.map((m) => ModelInfo.toJSON(m)),
              null,
              2,
            ),
          );
        else for (const m of models) out(modelLine(m));
        return 0;
      }
      case "show": {
        const { model } = await client.getModel({ modelId: o.require("model") });
        out(JSON.stringify(model ? ModelInfo.toJSON(model) : {}, null, 2));
        return 0;
      }
      case "rm":
        await client.deleteModel({ modelId: o.require("model"), deleteCheckpoints: o.flag("delete-checkpoints") });
        out(`deleted ${o.get("model")}${o.flag("delete-checkpoints") ? " and its checkpoints" : ""}`);
        return 0;
      default:
        throw new UsageError(`model: unknown action "${action ?? ""}" (create, ls, show, rm)`);
    }
  } finally {
    client.close();
  }
}

/** Opens a session on a running server from a checkpoint or an artifact under its artifact root. */
export async function restoreCommand(args: string[]): Promise<number> {
  const o = options(
    args,
    ["server", "model", "checkpoint", "artifact", "as", "spec", "keras-json", "example"],
    ["resume"],
  );
  // Weights-only artifacts (Keras .weights.h5, TensorFlow checkpoints) need the model they belong to.
  const given = [o.get("spec"), o.get("keras-json"), o.get("example")].some((v) => v !== undefined);
  const artifact = o.get("artifact");
  if (artifact !== undefined && (o.get("model") !== undefined || o.get("checkpoint") !== undefined))
    throw new UsageError("give --artifact PATH, or --model M [--checkpoint ID], not both");
  const client = connect(o.get("server") ?? defaultServerAddress());
  try {
    const res = await client.restore({
      source:
        artifact !== undefined
          ? { $case: "artifactPath", artifactPath: artifact }
          : {
              $case: "checkpoint",
              checkpoint: { modelId: o.require("model"), checkpointId: o.get("checkpoint") ?? "latest" },
            },
      targetModelId: o.get("as") ?? "",
      resume: o.flag("resume"),
      ...(given ? { spec: specFrom(o) } : {}),
    });
    for (const w of res.warnings) out(`warning: ${w}`);
    if (res.model) out(`restored ${res.checkpointId || artifact}: ${modelLine(res.model)}`);
    return 0;
  } finally {
    client.close();
  }
}
