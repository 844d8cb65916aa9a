// gRPC handlers of modelbay.v1.ModelService, assembled from one file per area.
import {
  type ModelServiceServer,
  ModelServiceService,
  PredictResponse,
  PredictStreamResponse,
} from "../gen/modelbay/v1/model_service.js";
import { checkpointHandlers } from "./checkpoint-handlers.js";
import type { HandlerDeps } from "./deps.js";
import { encodingResponsesInPlace } from "./grpc-adapters.js";
import { modelHandlers } from "./model-handlers.js";
import { predictStreamHandler } from "./predict-stream-handler.js";
import { trainingHandlers } from "./training-handlers.js";

export function modelServiceHandlers(deps: HandlerDeps): ModelServiceServer {
  return {
    ...modelHandlers(deps),
    ...trainingHandlers(deps),
    ...checkpointHandlers(deps),
    ...predictStreamHandler(deps),
  };
}

/** The service as grpc-js serves it: the generated definition, the hot paths' responses encoded in place. */
export const modelServiceDefinition = {
  ...ModelServiceService,
  predict: encodingResponsesInPlace(ModelServiceService.predict, PredictResponse),
  predictStream: encodingResponsesInPlace(ModelServiceService.predictStream, PredictStreamResponse),
};
