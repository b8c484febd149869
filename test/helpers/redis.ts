// The real redis-server of the queue tests (bench/redis.ts starts it). A missing redis-server is a
// skip here and a failure in CI.
import { spawnSync } from 'node:child_process';

export { startRedis, type TestRedis } from '../../bench/redis.js';

export const redisMissing: string | null =
  spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0
    ? null
    : 'redis-server is not installed (apt-get install redis-server)';
if (redisMissing !== null && process.env.CI === 'true') throw new Error(`CI: ${redisMissing}`);
