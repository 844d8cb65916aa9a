// What every benchmark script shares: run main (on failure print the stack and exit 1), the median of its ratios, and closed-loop callers.
export function runBench(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}

/** The middle value (the upper of the two middle ones for an even count); NaN for none. */
export const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/** `callers` closed-loop callers each repeating `call` until `ms` have passed; the calls made, per second. */
export async function closedLoopRate(callers: number, ms: number, call: () => Promise<unknown>): Promise<number> {
  const until = performance.now() + ms;
  let calls = 0;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (performance.now() < until) {
        await call();
        calls++;
      }
    }),
  );
  return calls / (ms / 1000);
}
