// `sandbox serve`'s /metrics: requests by route and code, commands by go-judge status, run
// duration as a histogram, gauges read at scrape time (lib/prometheus.ts writes the text).
import { Counter, exposition, Histogram, renderGauge } from '../prometheus.js';

/** Seconds: from a warm /bin/true (~1 ms) to a long compile. */
const BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Metrics {
  readonly #requests = new Counter('sandbox_serve_requests_total', 'HTTP requests by route and status code.', 'route', 'code');
  readonly #results = new Counter('sandbox_serve_results_total', 'Commands run, by go-judge status.', 'status');
  readonly #duration = new Histogram('sandbox_serve_run_duration_seconds', 'Time from a /run request to its results.', BUCKETS);

  request(route: string, code: number): void {
    this.#requests.inc(route, String(code));
  }

  /** One /run (HTTP or WebSocket) that ran: its duration and each command's status. */
  run(seconds: number, statuses: string[]): void {
    this.#duration.observe(seconds);
    for (const s of statuses) this.#results.inc(s);
  }

  render(gauges: Record<string, { help: string; value: number }>): string {
    const out: string[] = [];
    this.#requests.render(out);
    this.#results.render(out);
    this.#duration.render(out);
    for (const [name, g] of Object.entries(gauges)) renderGauge(out, { name, help: g.help, samples: [['', g.value]] });
    return exposition(out);
  }
}
