// Texts of `sandbox --help`, `sandbox exec --help` and `sandbox --version`.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MAIN_HELP = `Usage: sandbox COMMAND [OPTIONS]

Run untrusted commands in Linux namespaces, with cgroup limits and exact accounting.

Commands:
  exec [OPTIONS] [--] COMMAND [ARG...]   Run COMMAND in a new sandbox
  run [OPTIONS] IMAGE [COMMAND [ARG...]] Run in an image: exec --image IMAGE, docker's spelling
  doctor                                 Check what this machine supports (user namespaces, cgroups)

Options:
  -h, --help      Print this help
      --version   Print the version

Run 'sandbox exec --help' for the options of exec.
`;

export const EXEC_HELP = `Usage: sandbox exec [OPTIONS] [--] COMMAND [ARG...]
       sandbox exec --image REF [OPTIONS] [-- COMMAND [ARG...]]
       sandbox run [OPTIONS] IMAGE [COMMAND [ARG...]]

Run COMMAND in a new sandbox: its own pid, mount, uts, ipc, user and network namespaces, the host's
/usr read-only (or --rootfs), a fresh /tmp, no host environment.

Filesystem:
      --rootfs PATH            Root directory of the sandbox (default: read-only view of the host)
      --image REF              Run in an image of the store: its layers are the root, its Env, WorkingDir,
                               User apply, no COMMAND runs its Entrypoint + Cmd (COMMAND replaces Cmd)
      --entrypoint CMD         Replace the image's Entrypoint (and drop its Cmd); "" clears it
      --writable               With --image or --rootfs: a writable root, changes on a tmpfs of the run's
                               own, discarded at its end (default: read-only root)
      --writable-size SIZE     Cap of that writable layer (default 1g; it is memory: it counts toward -m)
  -v, --bind SRC:DST[:ro|rw]   Bind mount host SRC at DST, read-only unless :rw (repeatable)
      --tmpfs DST[:SIZE]       Mount a tmpfs at DST, capped at SIZE (repeatable)
  -w, --workdir DIR            Working directory inside (default /)
Process:
  -e, --env KEY=VALUE          Set a variable (repeatable); -e KEY copies the caller's value if set.
                               Default: only PATH=/usr/local/bin:/usr/bin:/bin and HOME=/tmp
      --hostname NAME          Hostname inside (default sandbox)
      --net none|host          none: only a loopback of its own (default); host: the host's network
      --seccomp default|none|FILE   System-call filter (default: default)
  -i, --interactive            Accepted for docker compatibility (stdin is passed through anyway)
  -t, --tty                    Give the command a pseudo-terminal of its own
Limits:
      --cpus N                 CPU quota in cores (0.5 = half a core)
  -m, --memory SIZE            Memory cap, swap included
      --pids N                 Most processes and threads at once
      --time-limit SEC         CPU time limit (user+sys, whole process tree)
      --wall-time-limit SEC    Wall-clock time limit
      --output-limit SIZE      Most bytes on stdout, and separately on stderr
      --cgroup-parent DIR      Create the sandbox's cgroup under DIR
      --require-cgroup         Fail (125) rather than fall back to rlimits without a usable cgroup
Input and output:
      --stdin FILE, --stdout FILE, --stderr FILE   Redirect (default: this terminal's)
      --result FILE            Write the RunResult as JSON to FILE
      --json                   Print the RunResult as one line of JSON on stderr after the run
      --meta FILE              Write the run in isolate's meta-file format to FILE
  -h, --help                   Print this help (use --help; -h is not the hostname)

SIZE: bytes, or with a suffix k, m, g (KiB, MiB, GiB), e.g. 256m. SEC: seconds, fractions allowed.
Both --opt VALUE and --opt=VALUE work.

Exit status: the command's own; 128+N when it was killed by signal N (137 for a limit's SIGKILL);
125 when the sandbox could not be set up; 126 when COMMAND cannot be executed; 127 when it is not found.

Examples:
  sandbox exec -- python3 -c 'print(1)'
  sandbox exec -v "$PWD:/src:ro" -w /src --memory 256m --time-limit 2 --meta run.meta -- ./solution
  sandbox run -m 256m python:3.12-slim python3 -c 'print(42)'
`;

/** "sandbox 0.1.0", from the package.json above this file (lib/cli or dist/lib/cli). */
export function versionText(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 5; up++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'sandbox' && typeof pkg.version === 'string') return `sandbox ${pkg.version}\n`;
    } catch {
      // no package.json here: look further up
    }
  }
  return 'sandbox (unknown version)\n';
}
