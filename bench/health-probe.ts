// A health checker in its own process, as a kubelet or grpc_health_probe would be, for
// bench/health-under-load.ts: checks the server at argv[2] every 20 ms for argv[3] seconds and
// prints the latencies in milliseconds as JSON.
import { connect } from "../src/cli/client.js";
import { runBench } from "./harness.js";

const [address = "", secondsArg = "8"] = process.argv.slice(2);

/** Checks health every 20 ms for `seconds`; latencies in ms, sorted. */
export async function probeHealth(target: string, seconds: number): Promise<number[]> {
  const probe = connect(target);
  const out: number[] = [];
  // The channel's first calls connect and warm up; they are not checks of a running server (they
  // alone made the idle p99 of the checker in its own process 11 ms, its max 25 ms).
  for (let i = 0; i < 5; i++) await probe.health("", { deadline: Date.now() + 5000 });
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    const t0 = performance.now();
    await probe.health("", { deadline: Date.now() + 5000 });
    out.push(performance.now() - t0);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  probe.close();
  return out.sort((a, b) => a - b);
}

if (import.meta.filename === process.argv[1]) {
  runBench(async () => {
    process.stdout.write(`${JSON.stringify(await probeHealth(address, Number(secondsArg)))}\n`);
  });
}
