/**
 * A small Prometheus text-format registry. Hot-path updates are a Map lookup and an add; all
 * formatting happens at scrape time. (prom-client would do, but its label handling allocates
 * per observation, which the proxy's per-request budget cannot afford.)
 */
type Labels = Record<string, string>;

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function renderLabels(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k]!)}"`).join(',')}}`;
}

interface Metric {
  render(): string;
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  /** `key` must identify `labels` uniquely; callers pass a precomputed key to avoid building one. */
  inc(key: string, labels: () => Labels, by = 1): void {
    const entry = this.values.get(key);
    if (entry) entry.value += by;
    else this.values.set(key, { labels: labels(), value: by });
  }

  get(key: string): number {
    return this.values.get(key)?.value ?? 0;
  }

  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`;
    for (const { labels, value } of this.values.values()) out += `${this.name}${renderLabels(labels)} ${value}\n`;
    return out;
  }
}

export class Histogram implements Metric {
  private readonly series = new Map<string, { labels: Labels; counts: Float64Array; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}

  observe(key: string, labels: () => Labels, value: number): void {
    let s = this.series.get(key);
    if (!s) {
      s = { labels: labels(), counts: new Float64Array(this.buckets.length), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) if (value <= b[i]!) { s.counts[i]!++; break; }
    s.sum += value;
    s.count++;
  }

  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
    for (const { labels, counts, sum, count } of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cumulative += counts[i]!;
        out += `${this.name}_bucket${renderLabels({ ...labels, le: String(this.buckets[i]) })} ${cumulative}\n`;
      }
      out += `${this.name}_bucket${renderLabels({ ...labels, le: '+Inf' })} ${count}\n`;
      out += `${this.name}_sum${renderLabels(labels)} ${sum}\n${this.name}_count${renderLabels(labels)} ${count}\n`;
    }
    return out;
  }
}

/** A counter kept by whoever owns the value (only ever growing), read at scrape time. */
export class CounterFunction implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly collect: () => Iterable<{ labels: Labels; value: number }>,
  ) {}

  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`;
    for (const { labels, value } of this.collect()) out += `${this.name}${renderLabels(labels)} ${value}\n`;
    return out;
  }
}

/** A gauge read at scrape time from whoever owns the value. */
export class GaugeFunction implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly collect: () => Iterable<{ labels: Labels; value: number }>,
  ) {}

  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n`;
    for (const { labels, value } of this.collect()) out += `${this.name}${renderLabels(labels)} ${value}\n`;
    return out;
  }
}

export class MetricsRegistry {
  private readonly metrics: Metric[] = [];

  register<T extends Metric>(metric: T): T {
    this.metrics.push(metric);
    return metric;
  }

  render(): string {
    return this.metrics.map((m) => m.render()).join('');
  }
}
