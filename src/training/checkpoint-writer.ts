// Checkpoints for a training job, written in the background: the job waits only while the model's
// state is copied into memory, then trains on while the files are written and fsynced. Writes are
// committed in order, at most one waits behind the one being written (so memory stays at two
// copies of the state), and a failed write is reported as an event, never dropped.

import type { RetentionPolicy } from "../checkpoints/retention.js";
import { toErrorStatus } from "../errors.js";
import type { Logger } from "../log.js";
import type { CapturedCheckpoint, SessionManager } from "../sessions/session-manager.js";
import type { EventLog } from "./events.js";

export class CheckpointWriter {
  /** Settles when every write started so far has finished. */
  private writing: Promise<void> = Promise.resolve();
  /** Settles when the write before the newest one has finished, i.e. when the queue has room. */
  private room: Promise<void> = Promise.resolve();

  constructor(
    private readonly sessions: SessionManager,
    private readonly modelId: string,
    private readonly log: EventLog,
    private readonly retention: RetentionPolicy | undefined,
    private readonly logger: Logger,
  ) {}

  /** Captures the model's state now and writes it in the background. */
  async save(reason: string): Promise<void> {
    await this.room;
    const captured = await this.sessions.captureCheckpoint(this.modelId);
    const previous = this.writing;
    this.room = previous;
    this.writing = previous.then(() => this.write(captured, reason));
  }

  /** Waits until every checkpoint requested so far is written (or reported as failed). */
  flush(): Promise<void> {
    return this.writing;
  }

  private async write(captured: CapturedCheckpoint, reason: string): Promise<void> {
    try {
      const saved = await this.sessions.commitCheckpoint(captured);
      this.log.append({ kind: "checkpointSaved", checkpointId: saved.id, reason });
      if (this.retention) await this.sessions.pruneCheckpoints(this.modelId, this.retention);
    } catch (err) {
      const { code, details } = toErrorStatus(err, (e) =>
        this.logger.error("checkpoint write failed", { model: this.modelId, reason, err: e }),
      );
      this.logger.error("checkpoint not saved", { model: this.modelId, reason, code, details });
      this.log.append({ kind: "checkpointFailed", reason, code, message: details });
    }
  }
}
