// Prometheus' text exposition format (0.0.4), the part /metrics of `sandbox serve` and of
// `sandbox worker` use: counters with labels, histograms and gauges read at scrape time.
// Hand-written: a handful of series needs no client library.

/** A label value as the format quotes it: backslash, double quote and newline escaped. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** `{a="x",b="y"}`, or '' for no labels. */
export function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function header(out: string[], name: string, help: string, type: 'counter' | 'histogram' | 'gauge'): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

/** A counter per combination of label values, in the order they first occur. */
export class Counter {
  readonly #values = new Map<string, number>();
  readonly #labels: readonly string[];
  constructor(
    readonly name: string,
    readonly help: string,
    ...labels: string[]
  ) {
    this.#labels = labels;
  }
  /** Adds one to the series with these label values (one per label name, in order). */
  inc(...values: string[]): void {
    const key = labelText(Object.fromEntries(this.#labels.map((l, i) => [l, values[i] ?? ''])));
    this.#values.set(key, (this.#values.get(key) ?? 0) + 1);
  }
  render(out: string[]): void {
    header(out, this.name, this.help, 'counter');
    for (const [k, n] of this.#values) out.push(`${this.name}${k} ${n}`);
  }
}

/** A histogram of seconds with cumulative `le` buckets. */
export class Histogram {
  readonly #counts: number[];
  #count = 0;
  #sum = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {
    this.#counts = buckets.map(() => 0);
  }
  observe(seconds: number): void {
    this.#count++;
    this.#sum += seconds;
    const i = this.buckets.findIndex((b) => seconds <= b);
    if (i >= 0) this.#counts[i]!++;
  }
  render(out: string[]): void {
    header(out, this.name, this.help, 'histogram');
    let cumulative = 0;
    for (const [i, b] of this.buckets.entries()) {
      cumulative += this.#counts[i]!;
      out.push(`${this.name}_bucket{le="${b}"} ${cumulative}`);
    }
    out.push(`${this.name}_bucket{le="+Inf"} ${this.#count}`, `${this.name}_sum ${this.#sum}`, `${this.name}_count ${this.#count}`);
  }
}

/** A gauge read at scrape time: one sample per label text ('' for none). */
export interface Gauge {
  name: string;
  help: string;
  samples: [labels: string, value: number][];
}

export function renderGauge(out: string[], g: Gauge): void {
  header(out, g.name, g.help, 'gauge');
  for (const [labels, v] of g.samples) out.push(`${g.name}${labels} ${v}`);
}

/** The whole text: every line ends with a newline, as the format asks. */
export function exposition(out: string[]): string {
  return out.join('\n') + '\n';
}
