// Build step after esbuild (package.json "build:cli"): gives the CLI bundle its id and makes its V8
// code cache (see cli/bin.ts). The id is a hash of the bundle's content, so a cache made from another
// build is never used. The cache is made by running the bin once, `exec -- /bin/true`, so that the
// functions a run needs are compiled into it; where no sandbox can run (a build container without user
// namespaces) the failed attempt still compiles most of them, and the bin remakes the cache at its
// first run wherever it may write.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const lib = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = join(lib, 'sandbox-cli.bundle.cjs');

let text = readFileSync(bundle, 'utf8');
if (text.startsWith('#!') || text.startsWith('// sandbox-cli ')) text = text.slice(text.indexOf('\n') + 1);
const id = createHash('sha256').update(text).digest('hex').slice(0, 32);
writeFileSync(bundle, `// sandbox-cli ${id}\n${text}`);

rmSync(join(lib, 'sandbox-cli.bundle.cache'), { force: true });
spawnSync(process.execPath, [join(lib, 'sandbox-cli.cjs'), 'exec', '--', '/bin/true'], {
  stdio: 'ignore',
  env: { ...process.env, SANDBOX_CLI_CACHE: 'write' },
  timeout: 60_000,
});
