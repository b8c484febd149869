#!/usr/bin/env node
// The `sandbox` bin. It starts the CLI bundle (sandbox-cli.bundle.cjs: cli/main.ts and all it imports,
// bundled by esbuild into one CommonJS file) from V8's code cache when a matching one lies beside it:
// compiling the bundle from source is ~4 ms of a `sandbox exec` start (bench/cli.ts).
//
// The cache (sandbox-cli.bundle.cache) is made by the build (cli/seal.ts) and remade here, at exit,
// when it is missing or V8 rejects it (another Node version or V8 flags). Its first line names the
// bundle it was made from (the id seal.ts writes on the bundle's first line, a hash of its content) and
// the Node version and architecture; anything else is not used. It is written only next to the bundle,
// by a process that can write there (which could as well change the code itself), never to a shared
// directory such as /tmp, where another user could plant bytecode.
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const here = dirname(fileURLToPath(import.meta.url));
const bundle = join(here, 'sandbox-cli.bundle.cjs');
const cacheFile = join(here, 'sandbox-cli.bundle.cache');

const source = readFileSync(bundle, 'utf8');
// seal.ts puts `// sandbox-cli <id>` on the bundle's first line.
const id = source.slice(0, source.indexOf('\n'));
const header = Buffer.from(`${id} ${process.version} ${process.arch}\n`);

let cached: Buffer | undefined;
try {
  const file = readFileSync(cacheFile);
  if (file.subarray(0, header.length).equals(header)) cached = file.subarray(header.length);
} catch {
  // no cache yet: compiled from source, and one is written at exit
}

const wrapped = `(function (exports, require, module, __filename, __dirname) {${source}\n})`;
const script = new Script(wrapped, { filename: bundle, cachedData: cached });
if (cached === undefined || script.cachedDataRejected === true || process.env.SANDBOX_CLI_CACHE === 'write') {
  // At exit the functions the run compiled are in the cache too (V8 compiles lazily).
  process.once('exit', () => writeCache(script.createCachedData()));
}
const module = { exports: {} };
script.runInThisContext()(module.exports, createRequire(bundle), module, bundle, here);

function writeCache(data: Buffer): void {
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, Buffer.concat([header, data]), { mode: 0o644 });
    renameSync(tmp, cacheFile); // atomic: a concurrent start reads the old cache or the new one
  } catch {
    // a read-only install: each start compiles from source, as without a cache
    try {
      unlinkSync(tmp);
    } catch {
      // never made
    }
  }
}
