import test from 'ava';
import { execFailureStatus, exitStatus, formatMeta, signalNumber } from '../../lib/cli/meta.js';
import { SandboxError } from '../../lib/errors.js';
import type { RunResult } from '../../lib/result.js';

function run(over: Partial<RunResult>): RunResult {
  return {
    outcome: 'ok',
    exitCode: 0,
    signal: null,
    cpuTimeMs: 12,
    userTimeMs: 10,
    sysTimeMs: 2,
    wallTimeMs: 15.7,
    memoryPeakBytes: 2048 * 1024 + 100,
    memoryAnonBytes: null,
    memoryFileBytes: null,
    enforcement: 'cgroup1',
    limits: { cpuQuota: null, memoryBytes: null, pids: null, timeLimitMs: null, wallTimeLimitMs: null, outputLimitBytes: null },
    sources: { cpuTime: 'cpuacct.stat', memoryPeak: 'memory.max_usage_in_bytes' },
    stdout: null,
    stderr: null,
    ...over,
  };
}

const lines = (text: string) => {
  const all = text.split('\n');
  return { last: all.pop(), body: all };
};

test('a successful run: times with 3 decimals, KiB, exitcode, no status', (t) => {
  const text = formatMeta(run({}), null);
  t.is(text, 'time:0.012\ntime-wall:0.015\nmax-rss:2048\ncg-mem:2048\nexitcode:0\n');
});

test('time is truncated to milliseconds like isolate, and carries into seconds', (t) => {
  const text = formatMeta(run({ cpuTimeMs: 1999.9, wallTimeMs: 61234 }), null);
  t.regex(text, /^time:1\.999\ntime-wall:61\.234\n/m);
});

test('rlimit enforcement: no cg-mem line', (t) => {
  const text = formatMeta(run({ enforcement: 'rlimit', sources: { cpuTime: 'rusage', memoryPeak: 'rusage' } }), null);
  t.false(text.includes('cg-mem'));
  t.true(text.includes('max-rss:2048\n'));
});

test('nonzero exit → RE', (t) => {
  const text = formatMeta(run({ outcome: 'nonzero-exit', exitCode: 1 }), null);
  t.true(text.endsWith('exitcode:1\nstatus:RE\nmessage:Exited with error status 1\n'));
  t.false(text.includes('killed'));
});

test('signal → SG with the signal number', (t) => {
  const text = formatMeta(run({ outcome: 'signaled', exitCode: null, signal: 'SIGSEGV' }), null);
  t.true(text.endsWith('exitsig:11\nstatus:SG\nmessage:Caught fatal signal 11\n'));
  t.false(text.includes('exitcode'));
});

test('CPU and wall time limits → TO with killed:1 and no exit status (isolate kills the box)', (t) => {
  const cpu = formatMeta(run({ outcome: 'cpu-time-limit', exitCode: null, signal: 'SIGKILL', cpuTimeMs: 1004 }), null);
  t.true(cpu.startsWith('time:1.004\n'));
  t.true(cpu.endsWith('killed:1\nstatus:TO\nmessage:Time limit exceeded\n'));
  t.false(cpu.includes('exitsig'));
  const wall = formatMeta(run({ outcome: 'wall-time-limit', exitCode: null, signal: 'SIGKILL' }), null);
  t.true(wall.endsWith('killed:1\nstatus:TO\nmessage:Time limit exceeded (wall clock)\n'));
});

test('memory limit → cg-oom-killed:1 and the signal as SG, as isolate reports an OOM kill', (t) => {
  const text = formatMeta(run({ outcome: 'memory-limit', exitCode: null, signal: 'SIGKILL', memoryPeakBytes: 64 * 1024 * 1024 }), null);
  t.is(
    text,
    'time:0.012\ntime-wall:0.015\nmax-rss:65536\ncg-mem:65536\ncg-oom-killed:1\nexitsig:9\nstatus:SG\nmessage:Caught fatal signal 9\n',
  );
  // a tree whose child was OOM-killed while the command itself exited 1
  const exited = formatMeta(run({ outcome: 'memory-limit', exitCode: 1 }), null);
  t.true(exited.includes('cg-oom-killed:1\nexitcode:1\nstatus:RE\n'));
});

test('output limit → killed:1, SG, "Output limit exceeded"', (t) => {
  const text = formatMeta(run({ outcome: 'output-limit', exitCode: null, signal: 'SIGKILL' }), null);
  t.true(text.endsWith('killed:1\nstatus:SG\nmessage:Output limit exceeded\n'));
});

test('sandbox failure → status XX with a one-line message', (t) => {
  const error = new SandboxError('cannot mount proc on /proc:\nOperation not permitted', { stage: 'mount', errno: 1 });
  t.is(formatMeta(null, error), 'status:XX\nmessage:cannot mount proc on /proc: Operation not permitted\n');
  t.is(formatMeta(null, null), 'status:XX\nmessage:Sandbox failed\n');
});

test('a command that cannot be executed → RE with the shell code, like isolate after a failed execve', (t) => {
  const missing = new SandboxError('cannot execute /nope: No such file or directory', { stage: 'exec', errno: 2 });
  t.is(formatMeta(null, missing), 'exitcode:127\nstatus:RE\nmessage:cannot execute /nope: No such file or directory\n');
  const denied = new SandboxError('cannot execute /etc/passwd: Permission denied', { stage: 'exec', errno: 13 });
  t.true(formatMeta(null, denied).startsWith('exitcode:126\nstatus:RE\n'));
});

test('every line is key:value and the file ends with a newline', (t) => {
  for (const outcome of ['ok', 'nonzero-exit', 'signaled', 'cpu-time-limit', 'wall-time-limit', 'memory-limit', 'output-limit'] as const) {
    const signaled = outcome !== 'ok' && outcome !== 'nonzero-exit';
    const { last, body } = lines(
      formatMeta(run({ outcome, exitCode: signaled ? null : outcome === 'ok' ? 0 : 3, signal: signaled ? 'SIGKILL' : null }), null),
    );
    t.is(last, '');
    for (const line of body) t.regex(line, /^[a-z-]+:[^\n]*$/);
  }
});

test('execFailureStatus: ENOENT 127, other exec errors 126, anything else null', (t) => {
  const e = (stage: string, errno: number | null) => new SandboxError('x', { stage, errno });
  t.is(execFailureStatus(e('exec', 2)), 127);
  for (const errno of [13, 21, 8, 1, 20, 40, 7, null]) t.is(execFailureStatus(e('exec', errno)), 126);
  t.is(execFailureStatus(e('mount', 2)), null);
  t.is(execFailureStatus(e('options', null)), null);
  t.is(execFailureStatus(null), null);
});

test('exitStatus: the exit code, or 128 + the signal number', (t) => {
  t.is(exitStatus({ exitCode: 0, signal: null }), 0);
  t.is(exitStatus({ exitCode: 42, signal: null }), 42);
  t.is(exitStatus({ exitCode: null, signal: 'SIGKILL' }), 137);
  t.is(exitStatus({ exitCode: null, signal: 'SIGSEGV' }), 139);
  t.is(exitStatus({ exitCode: null, signal: 'SIG40' }), 168);
  t.is(exitStatus({ exitCode: null, signal: 'SIGWHAT' }), 255);
  t.is(signalNumber('SIGTERM'), 15);
  t.is(signalNumber('nope'), null);
});
