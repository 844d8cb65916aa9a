// Train: starts a job and streams its events until it completes or fails.
import { Code, ModelbayError } from "../errors.js";
import type { ModelServiceServer, TrainResponse } from "../gen/modelbay/v1/model_service.js";
import type { TrainRequest } from "../gen/modelbay/v1/training.js";
import type { HandlerDeps } from "./deps.js";
import { type CallContext, serverStream } from "./grpc-adapters.js";
import { trainEventToWire, trainSettingsFromWire } from "./train-codec.js";

export function trainingHandlers(deps: HandlerDeps): Pick<ModelServiceServer, "train"> {
  return {
    train: serverStream(
      "Train",
      deps,
      async function* (req: TrainRequest, ctx: CallContext): AsyncGenerator<TrainResponse> {
        const job = deps.jobs.start(req.modelId, trainSettingsFromWire(req, deps.limits));
        try {
          for await (const event of job.log.follow(1, ctx.signal)) yield { event: trainEventToWire(event) };
        } finally {
          // Without detach, the job lives only as long as its stream.
          if (!req.detach && job.state === "running") {
            job.cancel(new ModelbayError(Code.CANCELLED, "the client cancelled the Train stream"));
          }
        }
      },
    ),
  };
}
