// /metrics in Prometheus' text format (exposition format 0.0.4): counters, a latency histogram
// and gauges read at scrape time. Hand-written: a handful of series needs no client library.

/** Seconds: from a warm /bin/true (~1 ms) to a long compile. */
const BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

function labels(l: Record<string, string>): string {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

export class Metrics {
  readonly #requests = new Map<string, number>();
  readonly #results = new Map<string, number>();
  readonly #buckets = BUCKETS.map(() => 0);
  #count = 0;
  #sum = 0;

  request(route: string, code: number): void {
    const key = labels({ route, code: String(code) });
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
  }

  /** One /run (HTTP or WebSocket) that ran: its duration and each command's status. */
  run(seconds: number, statuses: string[]): void {
    this.#count++;
    this.#sum += seconds;
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) this.#buckets[i]!++;
    });
    for (const s of statuses) {
      const key = labels({ status: s });
      this.#results.set(key, (this.#results.get(key) ?? 0) + 1);
    }
  }

  render(gauges: Record<string, { help: string; value: number }>): string {
    const out: string[] = [];
    out.push('# HELP sandbox_serve_requests_total HTTP requests by route and status code.', '# TYPE sandbox_serve_requests_total counter');
    for (const [k, v] of this.#requests) out.push(`sandbox_serve_requests_total${k} ${v}`);
    out.push('# HELP sandbox_serve_results_total Commands run, by go-judge status.', '# TYPE sandbox_serve_results_total counter');
    for (const [k, v] of this.#results) out.push(`sandbox_serve_results_total${k} ${v}`);
    out.push(
      '# HELP sandbox_serve_run_duration_seconds Time from a /run request to its results.',
      '# TYPE sandbox_serve_run_duration_seconds histogram',
    );
    for (const [i, b] of BUCKETS.entries()) out.push(`sandbox_serve_run_duration_seconds_bucket{le="${b}"} ${this.#buckets[i]}`);
    out.push(`sandbox_serve_run_duration_seconds_bucket{le="+Inf"} ${this.#count}`);
    out.push(`sandbox_serve_run_duration_seconds_sum ${this.#sum}`, `sandbox_serve_run_duration_seconds_count ${this.#count}`);
    for (const [name, g] of Object.entries(gauges)) out.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`, `${name} ${g.value}`);
    return out.join('\n') + '\n';
  }
}
