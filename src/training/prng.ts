// A small seeded PRNG (sfc32) whose whole state is four uint32 words, so that the data order of a
// training run can be saved in a checkpoint and replayed exactly on resume.

export type PrngState = [number, number, number, number];

// Rows of a permutation drawn per turn of the event loop: ~0.2 ms idle.
const ROWS_PER_TURN = 8192;

export class Prng {
  private s: Uint32Array;

  private constructor(state: PrngState) {
    this.s = Uint32Array.from(state);
  }

  /** A generator seeded from a 64-bit seed (given as a number or bigint). */
  static fromSeed(seed: number | bigint): Prng {
    const big = BigInt.asUintN(64, BigInt(seed));
    const prng = new Prng([Number(big & 0xffffffffn), Number(big >> 32n), 0x9e3779b9, 1]);
    for (let i = 0; i < 15; i++) prng.nextUint32();
    return prng;
  }

  static fromState(state: PrngState): Prng {
    return new Prng(state);
  }

  state(): PrngState {
    return [this.s[0] ?? 0, this.s[1] ?? 0, this.s[2] ?? 0, this.s[3] ?? 0];
  }

  nextUint32(): number {
    const s = this.s;
    const a = s[0] as number;
    const b = s[1] as number;
    const c = s[2] as number;
    const d = s[3] as number;
    const t = (((a + b) >>> 0) + d) >>> 0;
    s[3] = (d + 1) >>> 0;
    s[0] = b ^ (b >>> 9);
    s[1] = (c + (c << 3)) >>> 0;
    const rotated = ((c << 21) | (c >>> 11)) >>> 0;
    s[2] = (rotated + t) >>> 0;
    return t;
  }

  /** An integer in [0, n), without modulo bias. */
  below(n: number): number {
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const v = this.nextUint32();
      if (v < limit) return v % n;
    }
  }

  /**
   * A Fisher-Yates permutation of 0..n-1, drawn ROWS_PER_TURN rows at a time with the event loop
   * free in between: it runs on the RPC thread once per epoch, and 65,536 rows in one go held that
   * thread 2-3 ms idle and up to ~9 ms with both cores busy (a profile of the health bench's load).
   */
  async permutation(n: number): Promise<Int32Array> {
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const tmp = order[i] as number;
      order[i] = order[j] as number;
      order[j] = tmp;
      if (i % ROWS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    return order;
  }
}
