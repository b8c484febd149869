// A redis-server of our own for the queue's tests and benchmark: 127.0.0.1 on a free port, its own
// directory, stopped after. With fsync 'always' every write is in the append-only file before it is
// acknowledged, so a restart, even after kill -9, keeps every job and result (the tests); 'everysec'
// is the production setting (the benchmark).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export type RedisFsync = 'always' | 'everysec';

export interface TestRedis {
  url: string;
  port: number;
  /** Kills the server (SIGKILL: nothing flushed at exit) and starts it again on the same port and files. */
  restart(options?: { downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

function launch(port: number, dir: string, fsync: RedisFsync): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      fsync,
      '--save',
      '',
      '--protected-mode',
      'yes',
      '--daemonize',
      'no',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (c: Buffer) => {
      out += c.toString();
      if (/Ready to accept connections/.test(out)) {
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.resume();
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

export async function startRedis(fsync: RedisFsync = 'always'): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-redis-'));
  const port = await freePort();
  let child = await launch(port, dir, fsync);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async restart({ downMs = 500 } = {}) {
      child.kill('SIGKILL');
      await exited(child);
      await new Promise((r) => setTimeout(r, downMs));
      child = await launch(port, dir, fsync);
    },
    async stop() {
      child.kill('SIGTERM');
      await exited(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
