// The worker's /metrics in Prometheus' text format (exposition format 0.0.4): jobs by outcome,
// commands by go-judge status, queue wait and run time as histograms, gauges read at scrape time.

/** Seconds: from a warm /bin/true (~1 ms) to a job that waited out a backlog. */
const BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

class Histogram {
  readonly counts = BUCKETS.map(() => 0);
  count = 0;
  sum = 0;
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    const i = BUCKETS.findIndex((b) => seconds <= b);
    if (i >= 0) this.counts[i]!++;
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    let cumulative = 0;
    for (let i = 0; i < BUCKETS.length; i++) {
      cumulative += this.counts[i]!;
      out.push(`${this.name}_bucket{le="${BUCKETS[i]}"} ${cumulative}`);
    }
    out.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${this.sum}`, `${this.name}_count ${this.count}`);
  }
}

class Counter {
  readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly label: string,
  ) {}
  inc(value: string): void {
    this.values.set(value, (this.values.get(value) ?? 0) + 1);
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`);
    for (const [v, n] of this.values) out.push(`${this.name}{${this.label}="${escapeLabel(v)}"} ${n}`);
  }
}

/** How a job's start ended on this worker. */
export type JobOutcome = 'completed' | 'setup-error' | 'rejected' | 'expired';

export class WorkerMetrics {
  readonly jobs = new Counter(
    'sandbox_worker_jobs_total',
    'Job starts on this worker by outcome (setup-error: retried while attempts remain; rejected, expired: never retried).',
    'outcome',
  );
  readonly statuses = new Counter('sandbox_worker_results_total', 'Commands run, by go-judge status.', 'status');
  readonly stalled = new Counter(
    'sandbox_worker_stalled_total',
    'Jobs this worker found stalled (their worker died) and put back to wait.',
    'queue',
  );
  readonly wait = new Histogram('sandbox_worker_queue_wait_seconds', 'Time from a job being added to its start on this worker.');
  readonly run = new Histogram('sandbox_worker_run_seconds', 'Time this worker spent on a job (every step, files included).');

  render(gauges: { name: string; help: string; samples: [string, number][] }[]): string {
    const out: string[] = [];
    for (const m of [this.jobs, this.statuses, this.stalled]) m.render(out);
    this.wait.render(out);
    this.run.render(out);
    for (const g of gauges) {
      out.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`);
      for (const [labels, v] of g.samples) out.push(`${g.name}${labels} ${v}`);
    }
    return out.join('\n') + '\n';
  }
}
