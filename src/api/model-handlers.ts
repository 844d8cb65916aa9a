// Model management and unary Predict.
import type {
  CreateModelRequest,
  CreateModelResponse,
  DeleteModelRequest,
  DeleteModelResponse,
  GetModelRequest,
  GetModelResponse,
  GetServerInfoResponse,
  ListModelsResponse,
  ModelServiceServer,
  PredictRequest,
  PredictResponse,
} from "../gen/modelbay/v1/model_service.js";
import type { HandlerDeps } from "./deps.js";
import { unary } from "./grpc-adapters.js";
import { modelInfo } from "./model-info.js";
import { specFromWire } from "./spec-codec.js";
import { nonFiniteToWire, tensorFromWire, tensorToWire } from "./tensor-codec.js";

type ModelHandlers = Pick<
  ModelServiceServer,
  "getServerInfo" | "createModel" | "getModel" | "listModels" | "deleteModel" | "predict"
>;

export function modelHandlers(deps: HandlerDeps): ModelHandlers {
  const { sessions } = deps;
  const backend = deps.backend.name;
  return {
    getServerInfo: unary(
      "GetServerInfo",
      deps,
      async (): Promise<GetServerInfoResponse> => ({
        version: deps.version,
        backend,
        tensorflowVersion: deps.backend.tensorflowVersion,
        tfjsVersion: deps.backend.tfjsVersion,
        devices: sessions.deviceLoads().map((d) => ({
          name: d.name,
          kind: d.kind,
          sessionCount: d.sessions,
          memoryBytes: Number.isFinite(d.memoryBytes) ? d.memoryBytes : 0,
          usedBytes: d.usedBytes,
        })),
      }),
    ),

    createModel: unary("CreateModel", deps, async (req: CreateModelRequest): Promise<CreateModelResponse> => {
      const spec = specFromWire(req.spec);
      return { model: modelInfo(await sessions.create(req.modelId, spec), backend) };
    }),

    getModel: unary(
      "GetModel",
      deps,
      async (req: GetModelRequest): Promise<GetModelResponse> => ({
        model: modelInfo(sessions.get(req.modelId), backend),
      }),
    ),

    listModels: unary(
      "ListModels",
      deps,
      async (): Promise<ListModelsResponse> => ({ models: sessions.list().map((s) => modelInfo(s, backend)) }),
    ),

    deleteModel: unary("DeleteModel", deps, async (req: DeleteModelRequest): Promise<DeleteModelResponse> => {
      await sessions.delete(req.modelId, req.deleteCheckpoints);
      return {};
    }),

    predict: unary("Predict", deps, async (req: PredictRequest, ctx): Promise<PredictResponse> => {
      const inputs = req.inputs.map((t, i) => ({
        name: t.name,
        tensor: tensorFromWire(t, `inputs[${i}]`, deps.limits),
      }));
      const outputs = await sessions.predict(req.modelId, inputs, ctx);
      const nonFinite = sessions.nonFiniteReport(req.modelId, inputs, outputs);
      return {
        modelId: req.modelId,
        outputs: outputs.map((o) => tensorToWire(o.name, o.tensor, req.rawOutput)),
        nonFinite: nonFinite && nonFiniteToWire(nonFinite),
      };
    }),
  };
}
