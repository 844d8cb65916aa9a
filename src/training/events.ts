// Training events and the per-job log that buffers them: the job appends, any number of watchers
// replay from a sequence number and then follow live.

export type TrainEventBody =
  | { kind: "started"; totalSteps: number; trainExamples: number }
  | {
      kind: "progress";
      epoch: number;
      step: number;
      loss: number;
      samplesPerSecond: number;
      percent: number;
      etaSeconds: number;
    }
  | { kind: "epochEnd"; epoch: number; loss: number; metrics: Record<string, number> }
  | { kind: "checkpointSaved"; checkpointId: string; reason: string }
  | { kind: "checkpointFailed"; reason: string; code: number; message: string }
  | { kind: "earlyStopped"; epoch: number; monitor: string; bestValue: number }
  | { kind: "completed"; metrics: Record<string, number>; durationSeconds: number; epochs: number }
  | { kind: "failed"; code: number; message: string };

export interface TrainEvent {
  seq: number;
  time: Date;
  jobId: string;
  body: TrainEventBody;
}

const isFinal = (e: TrainEvent) => e.body.kind === "completed" || e.body.kind === "failed";

export class EventLog {
  private readonly events: TrainEvent[] = [];
  private wake: (() => void)[] = [];

  constructor(readonly jobId: string) {}

  append(body: TrainEventBody): TrainEvent {
    const event = { seq: this.events.length + 1, time: new Date(), jobId: this.jobId, body };
    this.events.push(event);
    for (const w of this.wake.splice(0)) w();
    return event;
  }

  /** Number of the latest event (0 before the first). */
  get lastSeq(): number {
    return this.events.length;
  }

  get closed(): boolean {
    const last = this.events.at(-1);
    return last !== undefined && isFinal(last);
  }

  /** Replays events from `fromSeq` (1-based) and follows new ones until the final event. */
  async *follow(fromSeq: number, signal: AbortSignal): AsyncGenerator<TrainEvent> {
    let next = Math.max(1, fromSeq);
    for (;;) {
      while (next <= this.events.length) {
        const event = this.events[next - 1] as TrainEvent;
        next++;
        yield event;
        if (isFinal(event)) return;
      }
      if (this.closed) return;
      signal.throwIfAborted();
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener("abort", done);
          resolve();
        };
        this.wake.push(done);
        signal.addEventListener("abort", done, { once: true });
      });
    }
  }
}
