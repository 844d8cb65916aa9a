// The KServe v2 / Open Inference Protocol service (inference.GRPCInferenceService) over the same
// sessions as modelbay's own API: a model is a session, with one version, "1". Handlers only
// translate; prediction is the session manager's.
import { Code, ModelbayError, notFound } from "../../errors.js";
import type {
  GRPCInferenceServiceServer,
  ModelInferRequest,
  ModelInferResponse,
  ModelMetadataRequest,
  ModelMetadataResponse,
  ModelReadyRequest,
  ModelReadyResponse,
  ServerMetadataResponse,
} from "../../gen/inference/grpc_predict_v2.js";
import type { Session } from "../../sessions/session-manager.js";
import type { HandlerDeps } from "../deps.js";
import { unary } from "../grpc-adapters.js";
import { inputFromKserve, outputToKserve, tensorMetadata } from "./kserve-codec.js";

const MODEL_VERSION = "1";

function session(deps: HandlerDeps, name: string, version: string): Session {
  if (version !== "" && version !== MODEL_VERSION) throw notFound(`version "${version}" of model "${name}"`);
  return deps.sessions.get(name);
}

export function kserveHandlers(deps: HandlerDeps): GRPCInferenceServiceServer {
  return {
    serverLive: unary("inference.ServerLive", deps, async () => ({ live: true })),
    serverReady: unary("inference.ServerReady", deps, async () => ({ ready: !deps.shutdown.aborted })),

    modelReady: unary("inference.ModelReady", deps, async (req: ModelReadyRequest): Promise<ModelReadyResponse> => {
      try {
        session(deps, req.name, req.version);
        return { ready: !deps.shutdown.aborted };
      } catch (err) {
        if (err instanceof ModelbayError && err.code === Code.NOT_FOUND) return { ready: false };
        throw err;
      }
    }),

    serverMetadata: unary(
      "inference.ServerMetadata",
      deps,
      async (): Promise<ServerMetadataResponse> => ({ name: "modelbay", version: deps.version, extensions: [] }),
    ),

    modelMetadata: unary(
      "inference.ModelMetadata",
      deps,
      async (req: ModelMetadataRequest): Promise<ModelMetadataResponse> => {
        const s = session(deps, req.name, req.version);
        return {
          name: s.id,
          versions: [MODEL_VERSION],
          platform: `modelbay_${deps.backend.name}`,
          inputs: s.model.description.inputs.map(tensorMetadata),
          outputs: s.model.description.outputs.map(tensorMetadata),
        };
      },
    ),

    modelInfer: unary(
      "inference.ModelInfer",
      deps,
      async (req: ModelInferRequest, ctx): Promise<ModelInferResponse> => {
        const s = session(deps, req.modelName, req.modelVersion);
        const raw = req.rawInputContents;
        if (raw.length > 0 && raw.length !== req.inputs.length) {
          throw new ModelbayError(
            Code.INVALID_ARGUMENT,
            `raw_input_contents has ${raw.length} entries for ${req.inputs.length} inputs; give one per input or none`,
          );
        }
        const inputs = req.inputs.map((input, i) => ({
          name: input.name,
          tensor: inputFromKserve(input, raw[i], `inputs[${i}]`, deps.limits),
        }));
        const outputs = await deps.sessions.predict(s.id, inputs, ctx);
        const wanted = req.outputs.map((o) => o.name);
        for (const name of wanted) {
          if (!outputs.some((o) => o.name === name)) {
            throw new ModelbayError(
              Code.INVALID_ARGUMENT,
              `outputs: model "${s.id}" has no output "${name}" (has ${outputs.map((o) => `"${o.name}"`).join(", ")})`,
            );
          }
        }
        const chosen = wanted.length ? outputs.filter((o) => wanted.includes(o.name)) : outputs;
        const encoded = chosen.map((o) => outputToKserve(o.name, o.tensor));
        return {
          modelName: s.id,
          modelVersion: MODEL_VERSION,
          id: req.id,
          parameters: {},
          outputs: encoded.map((e) => e.output),
          rawOutputContents: encoded.map((e) => e.raw),
        };
      },
    ),
  };
}
