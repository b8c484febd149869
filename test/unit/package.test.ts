// package.json's promises against what CI tests and what the addon is built for: engines against the
// Node lines of .ci/node.sh, binary.napi_versions against binding.gyp's NAPI_VERSION, and the exports
// map against the names the docs use.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  engines: { node: string };
  binary: { napi_versions: number[] };
  exports: Record<string, unknown>;
  bin: Record<string, string>;
};

type Version = [number, number, number];
const parse = (v: string): Version => v.split('.').map(Number) as Version;
const atLeast = (v: Version, floor: Version): boolean => {
  for (let i = 0; i < 3; i++) if (v[i] !== floor[i]) return v[i]! > floor[i]!;
  return true;
};

const lines = execFileSync('bash', [join(root, '.ci', 'node.sh'), 'lines'], { encoding: 'utf8' })
  .trim()
  .split('\n');

test('engines is one lower bound, and it is the oldest line CI tests', (t) => {
  const m = /^>=(\d+\.\d+\.\d+)$/.exec(pkg.engines.node);
  t.truthy(m, `engines.node "${pkg.engines.node}" is not of the form >=X.Y.Z`);
  const floor = parse(m![1]!);
  const majors = lines.map((v) => parse(v)[0]);
  t.is(Math.min(...majors), floor[0], `the oldest line CI tests (${lines.join(', ')}) is the one engines starts at`);
  for (const v of lines) t.true(atLeast(parse(v), floor), `${v} satisfies ${pkg.engines.node}`);
});

test('require(esm), which the exports map relies on, is on by default from the engines floor', (t) => {
  // Node enables require() of ES modules by default from 22.12 (and 20.19): the exports map has no
  // CommonJS build, so a floor below that would promise require() where it fails.
  const floor = parse(pkg.engines.node.slice(2));
  t.true(atLeast(floor, [22, 12, 0]));
  const root = pkg.exports['.'] as Record<string, string>;
  t.deepEqual(Object.keys(root), ['types', 'default'], 'one build for import and require: no dual-package hazard');
});

test('binary.napi_versions is the NAPI_VERSION binding.gyp builds the addon for', (t) => {
  const gyp = readFileSync(join(root, 'binding.gyp'), 'utf8');
  const m = /"NAPI_VERSION=(\d+)"/.exec(gyp);
  t.truthy(m, 'binding.gyp defines NAPI_VERSION');
  t.deepEqual(pkg.binary.napi_versions, [Number(m![1])]);
});

test('the npm name is not the command: the bin stays `sandbox`', (t) => {
  t.not(pkg.name, 'sandbox', 'the npm name "sandbox" belongs to another package');
  t.deepEqual(Object.keys(pkg.bin), ['sandbox']);
});
