// Predicts with a common deadline waiting behind a busy device, more than it can answer in time:
// the order in which those answered were answered. A few Predicts without a deadline go first and
// keep the device busy (meanwhile it learns its pace from them); then `count` Predicts with a
// deadline about three of their times after the device would reach them. The device can answer
// only some in time, whatever order it picks. The time per Predict is measured first; a round in
// which none or all were answered in time (the machine slowed down or sped up) is repeated, up to
// three rounds.
import assert from "node:assert/strict";

export interface Backlog {
  /** The i-th Predict (all cost the device about the same); `deadline` in epoch milliseconds. */
  predict(i: number, deadline?: number): Promise<unknown>;
  count: number;
}

const OCCUPIERS = 4;
const SEND_GAP_MS = 5;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The time per Predict when several wait, in ms: three sent at once, the median of three rounds. */
async function timePerPredict(predict: Backlog["predict"]): Promise<number> {
  const rounds: number[] = [];
  for (let r = 0; r < 3; r++) {
    const started = performance.now();
    await Promise.all([0, 1, 2].map((i) => predict(i)));
    rounds.push((performance.now() - started) / 3);
  }
  return rounds.sort((a, b) => a - b)[1] as number;
}

/** The indices of the Predicts answered in time, in the order they were answered. */
export async function answeredWhenBehind({ predict, count }: Backlog): Promise<number[]> {
  for (let round = 1; ; round++) {
    const paceMs = await timePerPredict(predict);
    const started = Date.now();
    const deadline = started + (OCCUPIERS + 3) * paceMs;
    const answered: number[] = [];
    let expired = 0;
    const calls: Promise<unknown>[] = [];
    // One at a time, a few ms apart: calls started together reach the device in no set order.
    for (let i = 0; i < OCCUPIERS + count; i++) {
      if (i > 0) await sleep(SEND_GAP_MS);
      const k = i - OCCUPIERS;
      calls.push(
        k < 0
          ? predict(i)
          : predict(k, deadline).then(
              () => answered.push(k),
              () => expired++,
            ),
      );
    }
    await Promise.all(calls);
    assert.equal(answered.length + expired, count);
    // None in time: the machine slowed down; all: it sped up, and nothing was behind.
    const behind = answered.length > 0 && answered.length < count;
    if (behind || round === 3) {
      assert.ok(answered.length > 0, `none of ${count} answered in time (${paceMs.toFixed(0)} ms a Predict)`);
      assert.ok(answered.length < count, `all ${count} answered in time (${paceMs.toFixed(0)} ms a Predict)`);
      return answered;
    }
  }
}

/** The answered Predicts were the newest of `count`, answered newest first. */
export function assertNewestFirst(answered: number[], count: number): void {
  assert.equal(answered[0], count - 1, `answered ${answered}: the newest first`);
  assert.deepEqual(
    answered,
    [...answered].sort((a, b) => b - a),
    `answered ${answered}: newest first`,
  );
}

/** The answered Predicts were the oldest, answered oldest first. */
export function assertOldestFirst(answered: number[]): void {
  assert.equal(answered[0], 0, `answered ${answered}: the oldest first`);
  assert.deepEqual(
    answered,
    [...answered].sort((a, b) => a - b),
    `answered ${answered}: oldest first`,
  );
}
