// Transpile the cgroup layer and the driver scenarios to plain JavaScript in a temporary directory,
// so a child can run them with plain `node`: no tsx start-up (tens of seconds in the emulated VM) and
// nothing to read under the project directory (an unprivileged uid may not be able to).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const projectRoot = path.resolve(import.meta.dirname, '../..');

const SOURCES = [
  'lib/errors.ts',
  // cgroup/files.ts reads through the addon when it loads; from this copy it does not (no build/
  // beside it), so the driver exercises the node:fs path.
  'lib/native.ts',
  ...fs.readdirSync(path.join(projectRoot, 'lib/cgroup')).filter((f) => f.endsWith('.ts')).map((f) => `lib/cgroup/${f}`),
  'test/helpers/cgroup-driver.ts',
  'test/helpers/cgroup-driver-main.ts',
];

/** Build the tree; returns its root (world-readable) and the entry point. Remove it with fs.rmSync. */
export async function buildDriver(): Promise<{ dir: string; main: string }> {
  // Loaded only when needed: parsing TypeScript's compiler takes a while under emulation.
  const { default: ts } = await import('typescript');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgroup-driver-'));
  fs.chmodSync(dir, 0o755);
  fs.writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}\n');
  for (const source of SOURCES) {
    const { outputText } = ts.transpileModule(fs.readFileSync(path.join(projectRoot, source), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      fileName: source,
    });
    const out = path.join(dir, source.replace(/\.ts$/, '.js'));
    fs.mkdirSync(path.dirname(out), { recursive: true, mode: 0o755 });
    fs.writeFileSync(out, outputText, { mode: 0o644 });
  }
  return { dir, main: path.join(dir, 'test/helpers/cgroup-driver-main.js') };
}
