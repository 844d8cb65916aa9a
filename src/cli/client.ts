// A small promise-based client over the generated grpc-js client, shared by the CLI, the demo,
// the benchmarks and the tests.
import * as grpc from "@grpc/grpc-js";
import { HealthCheckResponse_ServingStatus, HealthClient } from "../gen/health/v1/health.js";
import * as api from "../gen/modelbay/v1/model_service.js";
import type { TrainEvent, TrainRequest } from "../gen/modelbay/v1/training.js";

type Callback<Res> = (err: grpc.ServiceError | null, res: Res) => void;
type UnaryMethod<Req, Res> = (
  req: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  cb: Callback<Res>,
) => unknown;

function promisify<Req, Res>(self: grpc.Client, method: UnaryMethod<Req, Res>) {
  return (req: Req, options: Partial<grpc.CallOptions> = {}): Promise<Res> =>
    new Promise((resolve, reject) => {
      method.call(self, req, new grpc.Metadata(), options, (err, res) => (err ? reject(err) : resolve(res)));
    });
}

/** The events of a Train or WatchTraining call; leaving the loop early cancels the call. */
async function* eventsOf(
  call: grpc.ClientReadableStream<{ event?: TrainEvent | undefined }>,
): AsyncGenerator<TrainEvent> {
  try {
    for await (const res of call as AsyncIterable<{ event?: TrainEvent | undefined }>) if (res.event) yield res.event;
  } finally {
    call.cancel();
  }
}

export function connect(address: string, credentials = grpc.credentials.createInsecure()) {
  const raw = new api.ModelServiceClient(address, credentials);
  const health = new HealthClient(address, credentials);
  return {
    raw,
    getServerInfo: promisify<api.GetServerInfoRequest, api.GetServerInfoResponse>(raw, raw.getServerInfo),
    createModel: promisify<api.CreateModelRequest, api.CreateModelResponse>(raw, raw.createModel),
    getModel: promisify<api.GetModelRequest, api.GetModelResponse>(raw, raw.getModel),
    listModels: promisify<api.ListModelsRequest, api.ListModelsResponse>(raw, raw.listModels),
    deleteModel: promisify<api.DeleteModelRequest, api.DeleteModelResponse>(raw, raw.deleteModel),
    predict: promisify<api.PredictRequest, api.PredictResponse>(raw, raw.predict),
    checkpoint: promisify<api.CheckpointRequest, api.CheckpointResponse>(raw, raw.checkpoint),
    listCheckpoints: promisify<api.ListCheckpointsRequest, api.ListCheckpointsResponse>(raw, raw.listCheckpoints),
    getCheckpoint: promisify<api.GetCheckpointRequest, api.GetCheckpointResponse>(raw, raw.getCheckpoint),
    deleteCheckpoint: promisify<api.DeleteCheckpointRequest, api.DeleteCheckpointResponse>(raw, raw.deleteCheckpoint),
    listJobs: promisify<api.ListJobsRequest, api.ListJobsResponse>(raw, raw.listJobs),
    cancelJob: promisify<api.CancelJobRequest, api.CancelJobResponse>(raw, raw.cancelJob),
    pauseJob: promisify<api.PauseJobRequest, api.PauseJobResponse>(raw, raw.pauseJob),
    resumeJob: promisify<api.ResumeJobRequest, api.ResumeJobResponse>(raw, raw.resumeJob),
    /** Replays and follows a job's events. */
    watch: (jobId: string, fromSeq = 1) => eventsOf(raw.watchTraining({ jobId, fromSeq })),
    restore: promisify<api.RestoreRequest, api.RestoreResponse>(raw, raw.restore),
    /** Streams a job's events; break out of the loop to cancel the call. */
    train: (req: TrainRequest, options: Partial<grpc.CallOptions> = {}) =>
      eventsOf(raw.train(req, new grpc.Metadata(), options)),
    /** Resolves to the serving status of `service` ("" for the whole server). */
    async health(service = "", options: Partial<grpc.CallOptions> = {}): Promise<string> {
      const res = await promisify(health, health.check)({ service }, options);
      return HealthCheckResponse_ServingStatus[res.status] ?? String(res.status);
    },
    close(): void {
      raw.close();
      health.close();
    },
  };
}

export type ModelbayClient = ReturnType<typeof connect>;
