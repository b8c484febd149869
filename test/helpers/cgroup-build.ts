// Transpile the cgroup layer and the driver scenarios to plain JavaScript in a temporary directory,
// so a child can run them with plain `node`: no tsx start-up (tens of seconds in the emulated VM) and
// nothing to read under the project directory (an unprivileged uid may not be able to).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const projectRoot = path.resolve(import.meta.dirname, '../..');

const SOURCES = [
  'lib/errors.ts',
  'lib/errno.ts',
  // cgroup/files.ts reads through the addon when it loads; from this copy it does not (no build/
  // beside it), so the driver exercises the node:fs path.
  'lib/native.ts',
  ...fs
    .readdirSync(path.join(projectRoot, 'lib/cgroup'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `lib/cgroup/${f}`),
  'test/helpers/cgroup-driver.ts',
  'test/helpers/cgroup-driver-main.ts',
];

/**
 * Transpiles `SOURCES` into `dir` in a child `node` of its own: TypeScript's compiler (9 MB of
 * JavaScript) is loaded there without tsx's hooks, whose WebAssembly lexer scanning it for imports
 * failed under QEMU ("memory access out of bounds") in the guest's full run as a delegated user.
 */
const TRANSPILE = `
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
const [root, dir, ...sources] = process.argv.slice(1);
const ts = createRequire(path.join(root, 'package.json'))('typescript');
for (const source of sources) {
  const { outputText } = ts.transpileModule(fs.readFileSync(path.join(root, source), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    fileName: source,
  });
  const out = path.join(dir, source.replace(/\\.ts$/, '.js'));
  fs.mkdirSync(path.dirname(out), { recursive: true, mode: 0o755 });
  fs.writeFileSync(out, outputText, { mode: 0o644 });
}
`;

/** Build the tree; returns its root (world-readable) and the entry point. Remove it with fs.rmSync. */
export async function buildDriver(): Promise<{ dir: string; main: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgroup-driver-'));
  fs.chmodSync(dir, 0o755);
  fs.writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}\n');
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', TRANSPILE, projectRoot, dir, ...SOURCES], (err, _out, stderr) =>
      err === null ? resolve() : reject(new Error(`transpiling the cgroup driver failed: ${stderr || err.message}`)),
    );
  });
  return { dir, main: path.join(dir, 'test/helpers/cgroup-driver-main.js') };
}
