// Caps on what one request may ask for. The HTTP layer's own caps (body size) are in lib/serve.
/** Commands in one request (go-judge sets none; an interactive problem needs two). */
export const MAX_CMDS = 16;
/** Arguments, environment entries, copyIn and copyOut entries of one command. */
export const MAX_LIST = 4096;
/** A name in copyIn/copyOut, in bytes. */
export const MAX_NAME = 4096;
/** copyOutMax when a command gives none (go-judge's default copy-out limit). */
export const DEFAULT_COPY_OUT_MAX = 64 * 1024 * 1024;
/** Wall-clock limit of a command that sets neither clockLimit nor cpuLimit: nothing runs unbounded. */
export const DEFAULT_CLOCK_LIMIT_NS = 60e9;
/** Wall-clock limit from a CPU limit alone: go-judge's habit of a generous multiple. */
export const CLOCK_PER_CPU = 2;
/** Default size of each command's /w when the server runs as root (a tmpfs of its own, lib/job/slots.ts). */
export const DEFAULT_WORK_DIR_SIZE = 512 * 1024 * 1024;
/** Size of each command's /tmp (tmpfs). */
export const TMP_SIZE = 64 * 1024 * 1024;
