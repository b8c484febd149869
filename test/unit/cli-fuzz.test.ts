// Property: on any argv, parseExecArgs returns a well-formed invocation or throws a SandboxError
// with a one-line message — never another exception type.
import test from 'ava';
import fc from 'fast-check';
import { parseExecArgs, type ExecInvocation } from '../../lib/cli/args.js';
import { SandboxError } from '../../lib/errors.js';

const FLAGS = [
  '--rootfs',
  '-v',
  '--bind',
  '--tmpfs',
  '-e',
  '--env',
  '-w',
  '--workdir',
  '--hostname',
  '--net',
  '--network',
  '--cpus',
  '-m',
  '--memory',
  '--pids',
  '--time-limit',
  '--wall-time-limit',
  '--output-limit',
  '--stdin',
  '--stdout',
  '--stderr',
  '--result',
  '--json',
  '--meta',
  '--cgroup-parent',
  '--require-cgroup',
  '--seccomp',
  '-i',
  '--interactive',
  '-t',
  '--tty',
  '-it',
  '--help',
  '-h',
  '--',
  '-',
];
const VALUES = [
  '256m',
  '1.5',
  '0',
  '-1',
  '/a:/b',
  '/a:/b:rw',
  '/a:/b:xx',
  'A=1',
  'A',
  'A=b=c d',
  '/t:64m',
  'none',
  'host',
  'default',
  '/',
  '',
  '1e3',
  'NaN',
  '\0',
  'a\nb',
  '\u2028',
  '/nonexistent/policy',
  '.',
];

const word = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...FLAGS) },
  { weight: 3, arbitrary: fc.constantFrom(...VALUES) },
  { weight: 2, arbitrary: fc.constantFrom(...FLAGS).chain((f) => fc.string().map((v) => `${f}=${v}`)) },
  { weight: 2, arbitrary: fc.string() },
  { weight: 1, arbitrary: fc.string({ unit: 'binary' }) },
  { weight: 1, arbitrary: fc.string().map((s) => `-${s}`) },
);

function assertWellFormed(inv: ExecInvocation): void {
  const ok = (cond: boolean, what: string) => {
    if (!cond) throw new Error(`malformed invocation: ${what}: ${JSON.stringify(inv)}`);
  };
  const o = inv.options;
  if (inv.help) return;
  ok(inv.command.length > 0 && inv.command.every((w) => typeof w === 'string' && !w.includes('\0')), 'command');
  for (const b of o.binds ?? []) ok(b.src.startsWith('/') && b.dst.startsWith('/') && typeof b.rw === 'boolean', 'bind');
  for (const m of o.tmpfs ?? [])
    ok(m.dst.startsWith('/') && (m.size === undefined || (Number.isSafeInteger(m.size) && (m.size as number) > 0)), 'tmpfs');
  for (const [k, v] of Object.entries(o.env ?? {})) ok(/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) && !v.includes('\0'), 'env');
  for (const n of [o.cpuQuota, o.timeLimit, o.wallTimeLimit]) ok(n === undefined || (Number.isFinite(n) && n > 0), 'number');
  for (const n of [o.memory, o.outputLimit, o.pids]) ok(n === undefined || (Number.isSafeInteger(n) && (n as number) > 0), 'integer');
  ok(o.cwd === undefined || o.cwd.startsWith('/'), 'cwd');
  ok(o.network === undefined || o.network === 'none' || o.network === 'host', 'network');
  ok(o.hostname === undefined || (o.hostname.length > 0 && o.hostname.length <= 64), 'hostname');
  for (const s of [inv.run.stdin, inv.run.stdout, inv.run.stderr]) {
    ok(s === 'inherit' || (typeof s === 'object' && s !== null && 'file' in s && s.file.startsWith('/')), 'stdio');
  }
}

test('parseExecArgs: a well-formed invocation or a one-line SandboxError', (t) => {
  let checked = 0;
  fc.assert(
    fc.property(fc.array(word, { maxLength: 12 }), (argv) => {
      checked++;
      let inv: ExecInvocation;
      try {
        inv = parseExecArgs(argv, { A: 'from host' });
      } catch (e) {
        if (!(e instanceof SandboxError)) throw e;
        if (e.stage !== 'options') throw new Error(`stage ${e.stage}`);
        if (/[\r\n]/.test(e.message) || e.message.length === 0) {
          throw new Error(`not one line: ${JSON.stringify(e.message)}`);
        }
        return;
      }
      assertWellFormed(inv);
    }),
    { numRuns: 3000 },
  );
  t.is(checked, 3000);
});
