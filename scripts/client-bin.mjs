// Puts the `sandbox` command in place (package.json "bin": dist/lib/sandbox): the native client
// (csrc/client/client.c) built here (build/Release) or prebuilt for this machine's architecture
// (prebuilds/linux-ARCH), else a shell script that starts the Node CLI. `npm run build` and the
// package's install script run it; prepack runs it with --launcher, since one tarball serves every
// architecture, and postpack puts this machine's client back. Plain JS: it runs before anything
// is compiled.
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'dist/lib/sandbox');
const tmp = `${bin}.${process.pid}.tmp`;

// Without the native client: the Node CLI, as the bin was before the client existed.
const LAUNCHER = `#!/bin/sh
# The \`sandbox\` command where no native client was installed (npm --ignore-scripts, or an
# architecture without a prebuild or a compiler): the Node CLI (docs/cli-server.md).
exec node "$(dirname "$(readlink -f "$0")")/sandbox-cli.cjs" "$@"
`;

const candidates = [join(root, 'build/Release/sandbox-client'), join(root, `prebuilds/linux-${process.arch}/sandbox-client`)];
const client = process.argv.includes('--launcher') ? undefined : candidates.find((f) => existsSync(f));
mkdirSync(dirname(bin), { recursive: true });
if (client === undefined) writeFileSync(tmp, LAUNCHER);
else copyFileSync(client, tmp);
chmodSync(tmp, 0o755);
renameSync(tmp, bin); // atomic: a `sandbox` starting meanwhile runs the old one or the new one
