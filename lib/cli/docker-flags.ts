// `docker run` flags that `sandbox exec` refuses, each with why and the nearest supported flag: a
// docker user's habit gets one line that says what to type instead (docs/cli.md lists them all).
// Flags of docker that sandbox supports are in args.ts (FLAGS); --image, --entrypoint and
// --writable come with images.

const NO_DAEMON = 'there is no daemon: a sandbox lives as long as its command, in the foreground';

const REFUSED: [string[], string][] = [
  [['-d', '--detach'], `${NO_DAEMON}; run it in the background with your shell (&, nohup, systemd-run)`],
  [['--name', '--restart', '--cidfile', '-l', '--label', '--label-file'], `${NO_DAEMON}, so there is nothing to name or restart`],
  [['-a', '--attach', '--detach-keys', '--sig-proxy'], 'stdio is always attached and signals are always forwarded'],
  [['-p', '--publish', '-P', '--publish-all', '--expose'], "there is no port forwarding; use --network host to share the host's network"],
  [
    ['--add-host', '--dns', '--dns-option', '--dns-search', '--ip', '--ip6', '--mac-address', '--link', '--network-alias'],
    'only --network none (loopback) or --network host exist',
  ],
  [
    ['--privileged', '--cap-add', '--cap-drop', '--device', '--device-cgroup-rule', '--gpus', '--group-add'],
    'the command never gets capabilities or host devices; --seccomp sets the system-call filter',
  ],
  [['--security-opt'], 'use --seccomp default|none|FILE for the system-call filter'],
  [['--userns', '--pid', '--ipc', '--uts', '--cgroupns'], 'every namespace is always new; --network host is the one shared with the host'],
  [['--cpu-shares', '-c', '--cpu-period', '--cpu-quota', '--cpu-rt-period', '--cpu-rt-runtime'], 'use --cpus N (cores, e.g. 0.5)'],
  [['--cpuset-mems'], "memory nodes are the cgroup parent's; --cpuset-cpus LIST pins the CPUs"],
  [
    ['--memory-reservation', '--kernel-memory', '--memory-swappiness', '--oom-kill-disable', '--oom-score-adj'],
    'use --memory SIZE (memory and swap together)',
  ],
  [
    ['--blkio-weight', '--blkio-weight-device', '--device-read-bps', '--device-write-bps', '--device-read-iops', '--device-write-iops'],
    'block I/O is not limited; use --output-limit SIZE to cap output',
  ],
  [['--stop-signal', '--stop-timeout'], 'use --wall-time-limit SEC; a signal to `sandbox exec` reaches the command'],
  [['--read-only'], 'the root is always read-only; --tmpfs DST and -v SRC:DST:rw give writable places'],
  [['--volumes-from', '--volume-driver', '--storage-opt'], 'there are no volumes; use -v SRC:DST or --mount type=bind'],
  [['--health-cmd', '--health-interval', '--health-retries', '--health-start-period', '--health-timeout', '--no-healthcheck'], NO_DAEMON],
  [['--log-driver', '--log-opt'], 'output goes to stdout/stderr or --stdout/--stderr FILE'],
  [
    ['--platform', '--pull', '--runtime', '--isolation', '--sysctl'],
    'not applicable: sandbox runs host binaries (or a rootfs) on this kernel',
  ],
  [['--env-host'], 'the host environment is never inherited; pass variables with -e KEY'],
];

/** Refused flag → why, and what to use. */
export const DOCKER_REFUSED: ReadonlyMap<string, string> = new Map(REFUSED.flatMap(([flags, why]) => flags.map((f) => [f, why] as const)));
