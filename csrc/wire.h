// The launch plan's wire format and the init → parent report record.
//
// The addon (plan.cc) serialises the plan into a memfd before clone; the sandbox's init
// (init/plan.cc) reads it back after execve. Both sides include this header, so the
// format is defined once. All integers are native-endian (both ends run on the same machine).
#pragma once
#include <stdint.h>

namespace wire {

constexpr uint32_t kMagic = 0x53424f58;  // "SBOX"
constexpr uint32_t kVersion = 1;

// Mount operations (mirrored in lib/native-plan.ts MountOp).
enum MountOp : uint32_t {
  kRootBind = 1,
  kRootTmpfs = 2,
  kRootOverlay = 3,
  kBind = 4,
  kTmpfs = 5,
  kProc = 6,
  kDevfs = 7,
  kSymlink = 8,
  kDir = 9,
  kRemountRo = 10,
  kFile = 11,
  kMountOpLast = 11,
};

// Mount flags (mirrored in lib/native-plan.ts MountFlag).
enum MountFlag : uint32_t {
  kReadOnly = 1,
  kOptional = 2,
  kDev = 4,
};

// Namespace bits init unshares itself (user + pid come from clone).
constexpr uint32_t kNsNet = 0x40000000;     // CLONE_NEWNET
constexpr uint32_t kNsIpc = 0x08000000;     // CLONE_NEWIPC
constexpr uint32_t kNsUts = 0x04000000;     // CLONE_NEWUTS
constexpr uint32_t kNsCgroup = 0x02000000;  // CLONE_NEWCGROUP
constexpr uint32_t kNsAllowed = kNsNet | kNsIpc | kNsUts | kNsCgroup;
// Not a namespace to make: the network namespace was lent from the pool (the addon sets it).
constexpr uint32_t kNsNetLent = 0x1;

// Sizes beyond which a plan is refused as absurd.
constexpr uint32_t kMaxStrings = 1u << 16;
constexpr uint32_t kMaxMounts = 4096;
constexpr uint32_t kMaxBytes = 64u << 20;

// The fds the clone child hands to init. kReportFd is a socket: it also brings the runs (init/serve.cc).
constexpr int kPlanFd = 3;
constexpr int kReportFd = 4;
constexpr int kSyncFd = 5;
constexpr int kInitExeFd = 6;
// From here up, one per cgroup hierarchy: the `tasks` (v1) or `cgroup.procs` file init joins by
// writing "0" to it, when init itself counts against a run's limits and clone could not put it in
// its cgroup (CLONE_INTO_CGROUP, v2 only).
constexpr int kFirstCgroupFd = 7;
constexpr int kMaxCgroupFds = 8;

// Sent by the parent to init to end the sandbox (a limit, an abort): init SIGKILLs everything
// inside, reaps it and still reports the command's status and rusage. SIGRTMIN+6 on glibc.
constexpr int kTerminateSignal = 40;

// Records init writes to kReportFd (errors of its setup, "ready") and to a run's report pipe (the
// run's own). One record is < PIPE_BUF, so each write is atomic.
enum ReportKind : uint32_t {
  kReportError = 1,    // setup failed at `stage` with `err`; `detail` names the object
  kReportStarted = 2,  // the command's execve succeeded at `t_ns`
  kReportExited = 3,   // the command ended: `value` is its wait status, at `t_ns`
  kReportReady = 4,    // on the socket: the sandbox is built or reset, and takes the next run
};

// A run sent to the sandbox over its socket: this header, and the fds as SCM_RIGHTS, in this
// order: the run's plan (memfd), its report pipe's write end, its stdin, stdout and stderr, then
// the cgroup files the command's process joins.
struct RunRequest {
  uint32_t magic;  // kMagic
  uint32_t nfds;
};
constexpr int kRunFixedFds = 5;
constexpr int kMaxRunFds = kRunFixedFds + kMaxCgroupFds;

struct Report {
  uint32_t kind;
  int32_t err;
  int64_t value;
  uint64_t t_ns;  // CLOCK_MONOTONIC
  // kReportExited: rusage of everything init reaped (the command's whole tree, init excluded:
  // init's own maxrss still counts the Node process it was cloned from).
  int64_t user_us;
  int64_t sys_us;
  int64_t maxrss_kb;
  // kReportExited, when init did not make its network namespace (one lent from the pool): 1 when
  // that namespace held nothing once everything of the run had ended (setup.cc, netns_empty()).
  uint32_t netns_empty;
  // kReportExited: KiB left in the sandbox's tmpfs mounts and /dev/shm when the tree ended.
  uint32_t tmpfs_kb;
  char stage[24];
  char detail[424];
};
static_assert(sizeof(Report) <= 512, "a report must be written atomically");

}  // namespace wire
