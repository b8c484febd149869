// The worker's /metrics: jobs by outcome, commands by go-judge status, queue wait and run time as
// histograms, gauges read at scrape time (lib/prometheus.ts writes the text).
import { Counter, exposition, type Gauge, Histogram, renderGauge } from '../prometheus.js';

/** Seconds: from a warm /bin/true (~1 ms) to a job that waited out a backlog. */
const BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

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
  readonly wait = new Histogram('sandbox_worker_queue_wait_seconds', 'Time from a job being added to its start on this worker.', BUCKETS);
  readonly run = new Histogram('sandbox_worker_run_seconds', 'Time this worker spent on a job (every step, files included).', BUCKETS);

  render(gauges: Gauge[]): string {
    const out: string[] = [];
    for (const m of [this.jobs, this.statuses, this.stalled, this.wait, this.run]) m.render(out);
    for (const g of gauges) renderGauge(out, g);
    return exposition(out);
  }
}
