// A small promise-based client over the generated grpc-js client, shared by the CLI, the demo,
// the benchmarks and the tests.
import fs from "node:fs";
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

/** The messages of a server stream; leaving the loop early cancels the call. */
async function* messagesOf<Res>(call: grpc.ClientReadableStream<Res>): AsyncGenerator<Res> {
  try {
    yield* call as AsyncIterable<Res>;
  } finally {
    call.cancel();
  }
}

/** The events of a Train or WatchTraining call; leaving the loop early cancels the call. */
async function* eventsOf(
  call: grpc.ClientReadableStream<{ event?: TrainEvent | undefined }>,
): AsyncGenerator<TrainEvent> {
  for await (const res of messagesOf(call)) if (res.event) yield res.event;
}

/**
 * The server a command talks to without --server: $MODELBAY_SERVER; else, inside a server's own
 * environment (a container's HEALTHCHECK), the port of its $MODELBAY_ADDRESS over loopback.
 */
export function defaultServerAddress(): string {
  const ownPort = process.env.MODELBAY_ADDRESS?.match(/:(\d+)$/)?.[1];
  return process.env.MODELBAY_SERVER ?? (ownPort ? `127.0.0.1:${ownPort}` : "127.0.0.1:50051");
}

/** How the client proves who it is and checks the server; by default from MODELBAY_* variables. */
export interface ClientSecurity {
  /** PEM CA that issued the server's certificate: connects with TLS. */
  ca?: Buffer;
  /** PEM client certificate and key, for servers that require mutual TLS. */
  cert?: Buffer;
  key?: Buffer;
  /** Bearer token sent with every call. */
  token?: string;
}

const readIf = (file: string | undefined) => (file ? fs.readFileSync(file) : undefined);

/** MODELBAY_TLS_CA, MODELBAY_TLS_CLIENT_CERT, MODELBAY_TLS_CLIENT_KEY and MODELBAY_AUTH_TOKEN. */
export function securityFromEnv(env: NodeJS.ProcessEnv = process.env): ClientSecurity {
  const out: ClientSecurity = {};
  const ca = readIf(env.MODELBAY_TLS_CA);
  const cert = readIf(env.MODELBAY_TLS_CLIENT_CERT);
  const key = readIf(env.MODELBAY_TLS_CLIENT_KEY);
  if (ca) out.ca = ca;
  if (cert) out.cert = cert;
  if (key) out.key = key;
  if (env.MODELBAY_AUTH_TOKEN) out.token = env.MODELBAY_AUTH_TOKEN;
  return out;
}

function channelOf(security: ClientSecurity): { credentials: grpc.ChannelCredentials; options: grpc.ClientOptions } {
  const credentials = security.ca
    ? grpc.credentials.createSsl(security.ca, security.key ?? null, security.cert ?? null)
    : grpc.credentials.createInsecure();
  const token = security.token;
  // A metadata interceptor rather than call credentials: those are refused on plaintext channels,
  // and a token over plaintext loopback is a legitimate local set-up.
  const options: grpc.ClientOptions = token
    ? {
        interceptors: [
          (opts, next) =>
            new grpc.InterceptingCall(next(opts), {
              start: (metadata, listener, nextStart) => {
                metadata.set("authorization", `Bearer ${token}`);
                nextStart(metadata, listener);
              },
            }),
        ],
      }
    : {};
  return { credentials, options };
}

export function connect(address: string, security: ClientSecurity = securityFromEnv()) {
  const { credentials, options } = channelOf(security);
  const raw = new api.ModelServiceClient(address, credentials, options);
  const health = new HealthClient(address, credentials, options);
  return {
    raw,
    getServerInfo: promisify<api.GetServerInfoRequest, api.GetServerInfoResponse>(raw, raw.getServerInfo),
    createModel: promisify<api.CreateModelRequest, api.CreateModelResponse>(raw, raw.createModel),
    getModel: promisify<api.GetModelRequest, api.GetModelResponse>(raw, raw.getModel),
    listModels: promisify<api.ListModelsRequest, api.ListModelsResponse>(raw, raw.listModels),
    deleteModel: promisify<api.DeleteModelRequest, api.DeleteModelResponse>(raw, raw.deleteModel),
    predict: promisify<api.PredictRequest, api.PredictResponse>(raw, raw.predict),
    /** Streams result chunks in row order; break out of the loop to cancel the call. */
    predictStream: (req: api.PredictStreamRequest, options: Partial<grpc.CallOptions> = {}) =>
      messagesOf<api.PredictStreamResponse>(raw.predictStream(req, new grpc.Metadata(), options)),
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
