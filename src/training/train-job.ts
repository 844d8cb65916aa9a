// One training run: steps through epochs in chunks of batches, reports throttled progress,
// saves checkpoints by policy, stops early, and ends with exactly one completed or failed event.
import { randomUUID } from "node:crypto";
import type { Span } from "@opentelemetry/api";
import type { TrainingCursor } from "../checkpoints/checkpoint-codec.js";
import type { NamedTensorData, Trainer } from "../compute/engine.js";
import type { LossKind } from "../compute/model-spec.js";
import { Code, ModelbayError, toErrorStatus } from "../errors.js";
import type { Logger } from "../log.js";
import type { NamedTensor } from "../sessions/input-check.js";
import { type Session, type SessionManager, trainableSpec } from "../sessions/session-manager.js";
import { type Observability, unobserved } from "../telemetry/spans.js";
import { CheckpointWriter } from "./checkpoint-writer.js";
import { EventLog } from "./events.js";
import { Prng } from "./prng.js";
import { splitValidation, type TrainSettings } from "./settings.js";

// Batches per compute call grow until a call takes about this long: long enough that per-call
// overhead vanishes, short enough that progress, cancellation and other RPCs stay responsive.
const TARGET_CALL_MS = 100;

export type JobState = "running" | "paused" | "completed" | "failed" | "cancelled";

export class TrainingJob {
  readonly id = `job-${randomUUID().slice(0, 8)}`;
  readonly log = new EventLog(this.id);
  readonly createTime = new Date();
  state: JobState = "running";
  /** Settles when the current run stops: at the end, or when paused. */
  done: Promise<void>;
  private controller = new AbortController();
  private readonly pauseReason = new ModelbayError(Code.ABORTED, "the job was paused");
  private readonly checkpoints: CheckpointWriter;
  private epochSpan: Span | undefined;

  constructor(
    readonly modelId: string,
    private readonly sessions: SessionManager,
    private readonly settings: TrainSettings,
    private readonly loss: LossKind,
    private readonly logger: Logger,
    private readonly observe: Observability = unobserved,
  ) {
    this.checkpoints = new CheckpointWriter(sessions, modelId, this.log, settings.checkpointPolicy.retention, logger);
    this.done = this.run();
  }

  /** Stops at the next chunk boundary; `reason` becomes the failed event's status. */
  cancel(reason: ModelbayError): void {
    if (this.state === "paused") {
      this.state = "cancelled";
      this.log.append({ kind: "failed", code: reason.code, message: reason.message });
      this.release();
      return;
    }
    this.controller.abort(reason);
  }

  /** Stops at the next chunk boundary, checkpoints, and frees the job's data on the device. */
  async pause(): Promise<void> {
    this.controller.abort(this.pauseReason);
    await this.done;
  }

  /** Continues a paused job exactly where it stopped, in the same event log. */
  resume(): void {
    const session = this.sessions.get(this.modelId);
    if (session.training) session.resumeFrom = session.training;
    this.state = "running";
    this.controller = new AbortController();
    this.done = this.run();
  }

  private release(): void {
    try {
      delete this.sessions.get(this.modelId).trainingJob;
    } catch {
      // The session is gone (deleted or its worker restarted); nothing holds it.
    }
  }

  private async run(): Promise<void> {
    const session = this.sessions.get(this.modelId);
    // Set before the first await, so the model is reserved by the time the constructor returns.
    session.trainingJob = this.id;
    let trainer: Trainer | undefined;
    try {
      const { train, validation } = this.settings.validation
        ? { train: this.settings.data, validation: this.settings.validation }
        : splitValidation(this.settings.data, this.settings.validationSplit);
      const metrics = trainableSpec(session, "train").compile.metrics;
      const tensors = (list: NamedTensor[]) => list.map((t) => t.tensor);
      trainer = await session.model.createTrainer(tensors(train.x), tensors(train.y), {
        batchSize: this.settings.batchSize,
        loss: this.loss,
        metrics,
        outputNames: session.model.description.outputs.map((o) => o.name),
      });
      await this.loop(session, trainer, validation);
    } catch (err) {
      if (this.controller.signal.reason === this.pauseReason) {
        this.state = "paused";
        await this.saveNow("pause");
        return;
      }
      const reason = this.controller.signal.aborted ? this.controller.signal.reason : err;
      const { code, details } = toErrorStatus(reason, (e) =>
        this.logger.error("training failed", { job: this.id, err: e }),
      );
      if (
        this.controller.signal.reason instanceof ModelbayError &&
        this.controller.signal.reason.code === Code.UNAVAILABLE
      ) {
        await this.saveNow("shutdown");
      }
      // Checkpoints requested before the failure are reported before it.
      await this.checkpoints.flush();
      this.state = code === Code.CANCELLED ? "cancelled" : "failed";
      this.log.append({ kind: "failed", code, message: details });
    } finally {
      // An epoch cut short (cancel, pause, failure) still ends its span.
      this.epochSpan?.end();
      this.epochSpan = undefined;
      trainer?.dispose();
      // A paused job keeps its model reserved until it is resumed or cancelled.
      if (this.state !== "paused") delete session.trainingJob;
    }
  }

  /** A checkpoint written before returning (pause, shutdown); a failure is reported as an event. */
  private async saveNow(reason: string): Promise<void> {
    try {
      await this.checkpoints.save(reason);
    } catch (err) {
      const { code, details } = toErrorStatus(err, (e) =>
        this.logger.error("checkpoint failed", { job: this.id, err: e }),
      );
      this.log.append({ kind: "checkpointFailed", reason, code, message: details });
    }
    await this.checkpoints.flush();
  }

  private async loop(session: Session, trainer: Trainer, validation: TrainSettings["validation"]): Promise<void> {
    const s = this.settings;
    const policy = s.checkpointPolicy;
    const resume = session.resumeFrom;
    delete session.resumeFrom;
    let epoch = resume?.epoch ?? 0;
    let step = resume?.step ?? session.training?.step ?? 0;
    let batch = resume?.batchInEpoch ?? 0;
    const prng = resume ? Prng.fromState(resume.prngState) : Prng.fromSeed(s.seed);
    const perEpoch = trainer.batchesPerEpoch;
    const totalSteps = Math.max(0, (s.epochs - epoch) * perEpoch - batch);
    this.log.append({ kind: "started", totalSteps, trainExamples: trainer.rows });

    const started = performance.now();
    let stepsDone = 0;
    let chunk = 1;
    let lastProgress = performance.now();
    let samplesSinceProgress = 0;
    let lastSave = performance.now();
    let best = Number.POSITIVE_INFINITY;
    let bestWeights: NamedTensorData[] | undefined;
    let sinceBest = 0;
    const signal = this.controller.signal;

    for (; epoch < s.epochs; epoch++) {
      this.epochSpan?.end();
      this.epochSpan = this.observe.tracer.startSpan("train epoch", {
        attributes: { "modelbay.model_id": this.modelId, epoch: epoch + 1 },
      });
      const epochPrng = prng.state();
      const order = s.shuffle ? await prng.permutation(trainer.rows) : null;
      let lossSum = 0;
      let samples = 0;
      const metricSums: Record<string, number> = {};
      const cursor = (): TrainingCursor => ({
        epoch,
        step,
        batchInEpoch: batch,
        prngState: epochPrng,
        shuffle: s.shuffle,
        batchSize: s.batchSize,
      });

      while (batch < perEpoch) {
        // Backend reads resolve as microtasks; give the event loop a turn so that RPCs, stream
        // writes and cancellation get through between chunks.
        await new Promise((resolve) => setImmediate(resolve));
        signal.throwIfAborted();
        let count = Math.min(chunk, perEpoch - batch);
        if (policy.everySteps > 0) count = Math.min(count, policy.everySteps - (step % policy.everySteps));
        const t0 = performance.now();
        const r = await trainer.runBatches(order, batch, count);
        const ms = performance.now() - t0;
        chunk = ms < TARGET_CALL_MS / 2 ? chunk * 2 : ms > TARGET_CALL_MS * 2 ? Math.max(1, chunk >> 1) : chunk;
        batch += r.steps;
        step += r.steps;
        stepsDone += r.steps;
        lossSum += r.lossSum;
        samples += r.samples;
        samplesSinceProgress += r.samples;
        for (const [k, v] of Object.entries(r.metricSums)) metricSums[k] = (metricSums[k] ?? 0) + v;
        session.training = cursor();
        if (r.nonFinite) {
          throw new ModelbayError(
            Code.FAILED_PRECONDITION,
            `the loss became ${r.lastLoss} at epoch ${epoch + 1}, step ${step}; lower the learning rate or check the data (checkpoints taken so far are kept)`,
          );
        }
        const now = performance.now();
        if (now - lastProgress >= s.progressIntervalMs || (batch === perEpoch && epoch === s.epochs - 1)) {
          const elapsed = (now - started) / 1000;
          const samplesPerSecond = samplesSinceProgress / ((now - lastProgress) / 1000);
          this.observe.metrics.trainingThroughput(this.modelId, samplesPerSecond);
          this.log.append({
            kind: "progress",
            epoch: epoch + 1,
            step,
            loss: r.lastLoss,
            samplesPerSecond,
            percent: totalSteps ? (100 * stepsDone) / totalSteps : 100,
            etaSeconds: stepsDone ? (elapsed / stepsDone) * (totalSteps - stepsDone) : 0,
          });
          lastProgress = now;
          samplesSinceProgress = 0;
        }
        if (policy.everySteps > 0 && step % policy.everySteps === 0 && batch < perEpoch)
          await this.checkpoints.save("step");
        else if (policy.everySeconds > 0 && now - lastSave >= policy.everySeconds * 1000) {
          await this.checkpoints.save("time");
          lastSave = performance.now();
        }
      }

      batch = 0;
      const epochMetrics: Record<string, number> = { loss: lossSum / samples };
      for (const [k, v] of Object.entries(metricSums)) epochMetrics[k] = v / samples;
      if (validation) {
        for (const [k, v] of Object.entries(
          await trainer.evaluate(
            validation.x.map((t) => t.tensor),
            validation.y.map((t) => t.tensor),
          ),
        ))
          epochMetrics[`val_${k}`] = v;
      }
      session.metrics = epochMetrics;
      session.training = {
        epoch: epoch + 1,
        step,
        batchInEpoch: 0,
        prngState: prng.state(),
        shuffle: s.shuffle,
        batchSize: s.batchSize,
      };
      const { loss, ...rest } = epochMetrics;
      this.log.append({ kind: "epochEnd", epoch: epoch + 1, loss: loss ?? Number.NaN, metrics: rest });
      this.epochSpan.setAttribute("loss", loss ?? Number.NaN);
      this.epochSpan.end();
      this.epochSpan = undefined;

      const monitorName = policy.monitor || (validation ? "val_loss" : "loss");
      const monitored = epochMetrics[monitorName];
      const improved = monitored !== undefined && monitored < best - (s.earlyStopping?.minDelta ?? 0);
      const saveForEpoch = policy.everyEpochs > 0 && (epoch + 1) % policy.everyEpochs === 0;
      const saveForBest = policy.onBest && monitored !== undefined && monitored < best;
      if (saveForEpoch || saveForBest) await this.checkpoints.save(saveForEpoch ? "epoch" : "best");
      if (improved && monitored !== undefined) {
        best = monitored;
        sinceBest = 0;
        if (s.earlyStopping?.restoreBestWeights) bestWeights = await session.model.getWeights();
      } else {
        sinceBest++;
      }
      if (monitored === undefined && s.earlyStopping?.patience) {
        throw new ModelbayError(
          Code.INVALID_ARGUMENT,
          `early_stopping.monitor: "${monitorName}" is not among the epoch metrics (${Object.keys(epochMetrics).join(", ")})`,
        );
      }
      if (
        s.earlyStopping &&
        s.earlyStopping.patience > 0 &&
        sinceBest >= s.earlyStopping.patience &&
        epoch + 1 < s.epochs
      ) {
        if (bestWeights) await session.model.setWeights(bestWeights);
        this.log.append({ kind: "earlyStopped", epoch: epoch + 1, monitor: monitorName, bestValue: best });
        epoch++;
        break;
      }
    }
    await this.checkpoints.flush();
    this.state = "completed";
    this.log.append({
      kind: "completed",
      metrics: session.metrics,
      durationSeconds: (performance.now() - started) / 1000,
      epochs: epoch,
    });
  }
}
