/** One metric's value from a registry's GET /metrics: the sum over the series whose labels include `labels` (`outcome="stopped"`). */
export async function metricValue(httpUrl: string, name: string, labels = ""): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!(line.startsWith(`${name} `) || line.startsWith(`${name}{`))) continue;
    if (labels && !line.slice(name.length).includes(labels)) continue;
    sum += Number(line.split(" ").at(-1));
  }
  return sum;
}
