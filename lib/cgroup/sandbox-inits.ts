// The host pids of this process's sandbox inits while they live (lib/warm-pool.ts keeps the set).
// cgroup v2 setup (v2.ts) moves them along with this process into its supervisor leaf:
// a sandbox kept warm sits in this process's cgroup, which must hold no process for its children
// to get controllers.
export const sandboxInits = new Set<number>();
