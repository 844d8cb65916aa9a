// The training jobs of the server: one per model at a time, found by id, cancelled on shutdown.

import { Code, ModelbayError, notFound } from "../errors.js";
import type { Logger } from "../log.js";
import { type SessionManager, trainableSpec } from "../sessions/session-manager.js";
import { type Observability, unobserved } from "../telemetry/spans.js";
import { checkSettings, inModelOrder, type TrainLimits, type TrainSettings } from "./settings.js";
import { TrainingJob } from "./train-job.js";

// Finished jobs kept for ListJobs and WatchTraining; the oldest beyond this are forgotten.
const FINISHED_JOBS_KEPT = 100;

export class TrainingJobs {
  private readonly jobs = new Map<string, TrainingJob>();

  constructor(
    private readonly sessions: SessionManager,
    private readonly limits: TrainLimits,
    private readonly logger: Logger,
    private readonly observe: Observability = unobserved,
  ) {}

  /** Checks the settings against the model, then starts the job; it runs until done or cancelled. */
  start(modelId: string, settings: TrainSettings): TrainingJob {
    const session = this.sessions.get(modelId);
    if (session.trainingJob) {
      throw new ModelbayError(
        Code.FAILED_PRECONDITION,
        `model "${modelId}" is already training (job ${session.trainingJob})`,
      );
    }
    const spec = trainableSpec(session, "train");
    const ordered = inModelOrder(settings, session.model.description);
    const loss = checkSettings(ordered, session.model.description, spec.compile.loss, this.limits);
    const job = new TrainingJob(modelId, this.sessions, ordered, loss, this.logger, this.observe);
    this.jobs.set(job.id, job);
    this.forgetOldFinished();
    return job;
  }

  get(jobId: string): TrainingJob {
    const job = this.jobs.get(jobId);
    if (!job) throw notFound(`training job "${jobId}"`);
    return job;
  }

  /** Jobs, newest first. */
  list(modelId = ""): TrainingJob[] {
    return [...this.jobs.values()].filter((j) => modelId === "" || j.modelId === modelId).reverse();
  }

  async pause(jobId: string): Promise<TrainingJob> {
    const job = this.get(jobId);
    if (job.state !== "running")
      throw new ModelbayError(Code.FAILED_PRECONDITION, `job ${jobId} is not running (${job.state})`);
    await job.pause();
    return job;
  }

  resume(jobId: string): TrainingJob {
    const job = this.get(jobId);
    if (job.state !== "paused")
      throw new ModelbayError(Code.FAILED_PRECONDITION, `job ${jobId} is not paused (${job.state})`);
    job.resume();
    return job;
  }

  cancel(jobId: string): TrainingJob {
    const job = this.get(jobId);
    if (job.state !== "running" && job.state !== "paused") {
      throw new ModelbayError(Code.FAILED_PRECONDITION, `job ${jobId} already ended (${job.state})`);
    }
    job.cancel(new ModelbayError(Code.CANCELLED, "cancelled by CancelJob"));
    return job;
  }

  private forgetOldFinished(): void {
    const finished = [...this.jobs.values()].filter((j) => j.state !== "running" && j.state !== "paused");
    for (const job of finished.slice(0, Math.max(0, finished.length - FINISHED_JOBS_KEPT))) this.jobs.delete(job.id);
  }

  /** Stops every running job (each checkpoints first) and waits for them. */
  async shutdown(): Promise<void> {
    const running = this.list().filter((j) => j.state === "running");
    for (const job of running)
      job.cancel(
        new ModelbayError(Code.UNAVAILABLE, "the server is shutting down; the job checkpointed and can be resumed"),
      );
    await Promise.all(running.map((j) => j.done));
  }
}
