// Train: starts a job and streams its events until it completes or fails.
import { Code, ModelbayError } from "../errors.js";
import {
  type CancelJobRequest,
  type CancelJobResponse,
  type JobInfo,
  JobState,
  type ListJobsRequest,
  type ListJobsResponse,
  type ModelServiceServer,
  type PauseJobRequest,
  type PauseJobResponse,
  type ResumeJobRequest,
  type ResumeJobResponse,
  type TrainResponse,
  type WatchTrainingRequest,
  type WatchTrainingResponse,
} from "../gen/modelbay/v1/model_service.js";
import type { TrainRequest } from "../gen/modelbay/v1/training.js";
import type { TrainingJob } from "../training/train-job.js";
import type { HandlerDeps } from "./deps.js";
import { type CallContext, serverStream, unary } from "./grpc-adapters.js";
import { trainEventToWire, trainSettingsFromWire } from "./train-codec.js";

const JOB_STATES = {
  running: JobState.JOB_STATE_RUNNING,
  completed: JobState.JOB_STATE_COMPLETED,
  failed: JobState.JOB_STATE_FAILED,
  cancelled: JobState.JOB_STATE_CANCELLED,
  paused: JobState.JOB_STATE_PAUSED,
} as const;

function jobInfo(job: TrainingJob): JobInfo {
  return {
    jobId: job.id,
    modelId: job.modelId,
    state: JOB_STATES[job.state],
    createTime: job.createTime,
    lastSeq: job.log.lastSeq,
  };
}

export function trainingHandlers(
  deps: HandlerDeps,
): Pick<ModelServiceServer, "train" | "watchTraining" | "listJobs" | "cancelJob" | "pauseJob" | "resumeJob"> {
  return {
    watchTraining: serverStream(
      "WatchTraining",
      deps,
      async function* (req: WatchTrainingRequest, ctx: CallContext): AsyncGenerator<WatchTrainingResponse> {
        const job = deps.jobs.get(req.jobId);
        for await (const event of job.log.follow(req.fromSeq, ctx.signal)) yield { event: trainEventToWire(event) };
      },
    ),

    listJobs: unary(
      "ListJobs",
      deps,
      async (req: ListJobsRequest): Promise<ListJobsResponse> => ({
        jobs: deps.jobs.list(req.modelId).map(jobInfo),
      }),
    ),

    pauseJob: unary(
      "PauseJob",
      deps,
      async (req: PauseJobRequest): Promise<PauseJobResponse> => ({
        job: jobInfo(await deps.jobs.pause(req.jobId)),
      }),
    ),

    resumeJob: unary(
      "ResumeJob",
      deps,
      async (req: ResumeJobRequest): Promise<ResumeJobResponse> => ({
        job: jobInfo(deps.jobs.resume(req.jobId)),
      }),
    ),

    cancelJob: unary(
      "CancelJob",
      deps,
      async (req: CancelJobRequest): Promise<CancelJobResponse> => ({
        job: jobInfo(deps.jobs.cancel(req.jobId)),
      }),
    ),

    train: serverStream(
      "Train",
      deps,
      async function* (req: TrainRequest, ctx: CallContext): AsyncGenerator<TrainResponse> {
        const job = deps.jobs.start(req.modelId, await trainSettingsFromWire(req, deps.limits, deps.dataDir));
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
