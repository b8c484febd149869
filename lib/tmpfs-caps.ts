// Size and inode caps of the sandbox's tmpfs mounts (/tmp, /dev/shm, --tmpfs). tmpfs pages are
// memory: without a cap a mount may grow to half of RAM (the kernel's default), and they are not
// address space, so RLIMIT_AS does not see them. With a cgroup they are charged to its memory;
// without one the cap is what holds them. docs/cgroups-v2.md, "tmpfs caps".
/** /tmp and a --tmpfs without a size: go-judge's default. */
export const TMPFS_DEFAULT_BYTES = 128 * 1024 * 1024;
/** /dev/shm: Docker's default. */
export const SHM_DEFAULT_BYTES = 64 * 1024 * 1024;
/** Inodes of a mount of the default size (go-judge: 4k); larger mounts get one per 32 KiB. */
export const TMPFS_MIN_INODES = 4096;
const BYTES_PER_INODE = 32 * 1024;

/**
 * The size of one tmpfs: what was asked (or the default), never more than the memory limit, which
 * it could otherwise bypass when the limit is an rlimit.
 */
export function tmpfsBytes(asked: number | null, fallback: number, memoryBytes: number | null): number {
  const size = asked ?? fallback;
  return memoryBytes === null ? size : Math.min(size, memoryBytes);
}

export function tmpfsInodes(bytes: number): number {
  return Math.max(TMPFS_MIN_INODES, Math.ceil(bytes / BYTES_PER_INODE));
}

/** Mount options of a capped tmpfs: "mode=1777,size=N,nr_inodes=K". */
export function tmpfsData(bytes: number): string {
  return `mode=1777,size=${bytes},nr_inodes=${tmpfsInodes(bytes)}`;
}
