/**
 * One scrape for a node of several worker processes (WORKERS > 1), merged from each worker's
 * Prometheus text. Counters and histograms are sums over the node — what `rate()` and
 * `histogram_quantile()` need, and what one process would have counted. Gauges are states, not
 * amounts (a target's health, a process' memory), so each worker's value is kept under a
 * `worker` label rather than added into a meaningless total.
 *
 * prom-client's AggregatorRegistry does this for prom-client registries, but the gateway's own
 * metrics are hand-written text (prometheus.ts, for the per-request cost), so the merge reads
 * the text format both produce: families in order, `# HELP`/`# TYPE` once each, samples without
 * timestamps.
 */
export interface WorkerScrape {
  worker: number;
  text: string;
}

interface Family {
  help: string | undefined;
  type: string;
  /** Sample line without its value → summed value, in first-seen order. */
  samples: Map<string, number>;
}

export function aggregateScrapes(scrapes: readonly WorkerScrape[]): string {
  const families = new Map<string, Family>();
  for (const { worker, text } of scrapes) {
    let family: Family | undefined;
    let name = '';
    let help: string | undefined;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      if (line.startsWith('# HELP ')) {
        help = line;
        continue;
      }
      if (line.startsWith('# TYPE ')) {
        const [, , familyName, type] = line.split(' ');
        name = familyName!;
        family = families.get(name);
        if (!family) {
          family = { help: help?.startsWith(`# HELP ${name} `) ? help : undefined, type: type ?? 'untyped', samples: new Map() };
          families.set(name, family);
        }
        help = undefined;
        continue;
      }
      if (line.startsWith('#') || !family) continue;
      const space = line.lastIndexOf(' ');
      if (space <= 0) continue;
      let series = line.slice(0, space);
      const value = Number(line.slice(space + 1));
      // Summaries' quantiles do not add up either.
      if (family.type !== 'counter' && family.type !== 'histogram') series = withWorker(series, worker);
      family.samples.set(series, (family.samples.get(series) ?? 0) + value);
    }
  }
  let out = '';
  for (const [name, family] of families) {
    if (family.help) out += family.help + '\n';
    out += `# TYPE ${name} ${family.type}\n`;
    for (const [series, value] of family.samples) out += `${series} ${formatValue(value)}\n`;
  }
  return out;
}

function withWorker(series: string, worker: number): string {
  const brace = series.indexOf('{');
  if (brace === -1) return `${series}{worker="${worker}"}`;
  const inner = series.slice(brace + 1, -1);
  return `${series.slice(0, brace)}{worker="${worker}"${inner === '' ? '' : ','}${inner}}`;
}

function formatValue(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}
