// The Prometheus text both /metrics endpoints write (lib/prometheus.ts): label escaping,
// cumulative buckets, gauges with and without labels.
import test from 'ava';
import { WorkerMetrics } from '../../lib/queue/metrics.js';
import { Counter, escapeLabel, exposition, Histogram, labelText, renderGauge } from '../../lib/prometheus.js';

test('label values escape backslash, double quote and newline', (t) => {
  t.is(escapeLabel('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  t.is(labelText({}), '');
  t.is(labelText({ route: 'GET /x', code: '200' }), '{route="GET /x",code="200"}');
});

test('a counter keeps one series per label combination, in first-seen order', (t) => {
  const c = new Counter('x_total', 'Things.', 'a', 'b');
  c.inc('1', '2');
  c.inc('3', '4');
  c.inc('1', '2');
  const out: string[] = [];
  c.render(out);
  t.deepEqual(out, ['# HELP x_total Things.', '# TYPE x_total counter', 'x_total{a="1",b="2"} 2', 'x_total{a="3",b="4"} 1']);
});

test('histogram buckets are cumulative; +Inf counts what no bucket holds', (t) => {
  const h = new Histogram('d_seconds', 'Durations.', [0.5, 1]);
  for (const s of [0.25, 0.5, 0.75, 7]) h.observe(s);
  const out: string[] = [];
  h.render(out);
  t.deepEqual(out.slice(2), [
    'd_seconds_bucket{le="0.5"} 2',
    'd_seconds_bucket{le="1"} 3',
    'd_seconds_bucket{le="+Inf"} 4',
    'd_seconds_sum 8.5',
    'd_seconds_count 4',
  ]);
});

test("the worker's metrics: counters, histograms, labelled gauges, a final newline", (t) => {
  const m = new WorkerMetrics();
  m.jobs.inc('completed');
  m.statuses.inc('Accepted');
  m.wait.observe(0.003);
  const text = m.render([{ name: 'sandbox_queue_jobs', help: 'Jobs.', samples: [['{state="wait"}', 5]] }]);
  t.regex(text, /^sandbox_worker_jobs_total\{outcome="completed"\} 1$/m);
  t.regex(text, /^sandbox_worker_results_total\{status="Accepted"\} 1$/m);
  t.regex(text, /^sandbox_worker_queue_wait_seconds_bucket\{le="0.002"\} 0$/m);
  t.regex(text, /^sandbox_worker_queue_wait_seconds_bucket\{le="0.005"\} 1$/m);
  t.regex(text, /^sandbox_worker_run_seconds_count 0$/m);
  t.regex(text, /^# TYPE sandbox_queue_jobs gauge\nsandbox_queue_jobs\{state="wait"\} 5$/m);
  t.true(text.endsWith('5\n'));
  const out: string[] = [];
  renderGauge(out, { name: 'g', help: 'G.', samples: [['', 1]] });
  t.is(exposition(out), '# HELP g G.\n# TYPE g gauge\ng 1\n');
});
