// Reading the server's Prometheus /metrics, for tests and benches.

/** A metric's value at `metricsAddress`, summed over the series whose labels include all of `labels`. */
export async function metricSum(metricsAddress: string, name: string, ...labels: string[]): Promise<number> {
  const text = await (await fetch(`http://${metricsAddress}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith(`${name}{`) && labels.every((label) => l.includes(label)))
    .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
}
