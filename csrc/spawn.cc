// The launch path. The clone child shares the caller's memory (CLONE_VM) and the caller waits
// for it (CLONE_VFORK) until it execs sandbox-init, so no page of Node's 40+ MB heap is copied.
// That child is a copy of a multithreaded process sharing its memory: it makes raw system
// calls only (no malloc, no locks, no C++ runtime), touches nothing but its own stack and the
// read-only ChildArgs below, and keeps every signal blocked (handlers would run Node's code).
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clone3.h"
#include "init_blob.h"
#include "netns.h"
#include "wire.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

namespace {

int g_init_fd = -1;

constexpr size_t kStackSize = 64 * 1024;
thread_local void *t_stack = nullptr;  // one per launching thread; the caller is suspended while it is used

constexpr int kInitFds = wire::kFirstCgroupFd;  // 0..6: stdio, plan, report, sync, init binary

struct ChildArgs {
  int fds[kInitFds + wire::kMaxCgroupFds];  // become 0.. in the child: the init's fds, then the cgroup files
  int count;                                // kInitFds + the number of cgroup files init is to join
};

// Writes a failure record for the parent. Only raw syscalls and the stack.
void child_report(int fd, const char *stage, int err) {
  wire::Report r;
  memset(&r, 0, sizeof r);  // compiles to stores, not a libc call that could take a lock
  r.kind = wire::kReportError;
  r.err = err;
  for (size_t i = 0; stage[i] && i + 1 < sizeof r.stage; i++) r.stage[i] = stage[i];
  syscall(SYS_write, fd, &r, sizeof r);
}

int child_main(void *p) {
  const ChildArgs *a = (const ChildArgs *)p;
  int report = a->fds[wire::kReportFd];
  // The sandbox dies with the thread that launched it (prctl(2): the signal is sent when the
  // creating *thread* exits; the addon launches from the thread that owns the event loop).
  if (syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
    child_report(report, "prctl", errno);
    return 127;
  }
  // Keep our capabilities in the new user namespace across execve while our uid is not yet
  // mapped (or not 0): inheritable + ambient (capabilities(7), "Transformation of capabilities
  // during execve()"). sandbox-init drops them all before the command runs.
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) < 0) {
    child_report(report, "capabilities", errno);
    return 127;
  }
  data[0].inheritable = data[0].permitted;
  data[1].inheritable = data[1].permitted;
  if (syscall(SYS_capset, &hdr, data) < 0) {
    child_report(report, "capabilities", errno);
    return 127;
  }
  // Only the capabilities init uses (each raise is a new cred, made on the caller's thread while it
  // waits for the exec). It needs SYS_ADMIN (namespaces, mounts, pivot_root, hostname, its
  // own id maps), SETUID/SETGID (switching to the mapped ids), SETPCAP (securebits, the bounding
  // set), NET_ADMIN (loopback up), SYS_CHROOT (the chroot fallback), KILL (ending the tree), and the
  // file ones for making mount points in a rootfs it may not own. The command gets none of them.
  static const int kInitCaps[] = {CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,     CAP_KILL,     CAP_SETGID,
                                  CAP_SETUID, CAP_SETPCAP,      CAP_NET_ADMIN,       CAP_SYS_CHROOT, CAP_SYS_ADMIN};
  for (int cap : kInitCaps) {
    if (syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) {
      child_report(report, "capabilities", errno);
      return 127;
    }
  }
  // Move every fd above the targets first, so that a source that is also a target number is
  // not overwritten; dup2 then clears CLOEXEC on exactly the fds init should get.
  int high[kInitFds + wire::kMaxCgroupFds];
  for (int i = 0; i < a->count; i++) {
    high[i] = syscall(SYS_fcntl, a->fds[i], F_DUPFD_CLOEXEC, 16);
    if (high[i] < 0) {
      child_report(report, "fds", errno);
      return 127;
    }
  }
  for (int i = 0; i < a->count; i++) {
    if (syscall(SYS_dup3, high[i], i, 0) < 0) {
      child_report(report, "fds", errno);
      return 127;
    }
  }
  report = wire::kReportFd;
  // Only what init was given survives (runc CVE-2024-21626 leaked a host fd into a container).
  if (syscall(SYS_close_range, a->count, ~0U, 0) < 0) {
    for (int fd = a->count; fd < 65536; fd++) syscall(SYS_close, fd);  // kernels before 5.9
  }
  static const char *const init_argv[] = {"sandbox-init", nullptr};
  static const char *const init_envp[] = {nullptr};
  syscall(SYS_execveat, wire::kInitExeFd, "", init_argv, init_envp, AT_EMPTY_PATH);
  child_report(report, "exec-init", errno);
  return 127;
}

int fail_with(LaunchFailure *f, const std::string &stage, const std::string &detail, int err) {
  f->stage = stage;
  f->detail = detail;
  f->err = err;
  return -err;
}

int write_proc_file(const std::string &path, const std::string &text) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t n = write(fd, text.data(), text.size());
  int e = n == (ssize_t)text.size() ? 0 : (n < 0 ? errno : EIO);
  close(fd);
  return -e;
}

}  // namespace

int prepare_init_binary() {
  if (g_init_fd >= 0) return 0;
  int fd = memfd_create("sandbox-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | 0x0010U /* MFD_EXEC, >= 6.3 */);
  if (fd < 0 && errno == EINVAL) fd = memfd_create("sandbox-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -errno;
  size_t len = init_blob_size(), off = 0;
  const unsigned char *blob = init_blob();
  while (off < len) {
    ssize_t n = write(fd, blob + off, len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      close(fd);
      return -e;
    }
    off += n;
  }
  fchmod(fd, 0555);
  // Sealed: nothing, not even a process that reaches /proc/1/exe, can change what every later
  // sandbox executes (runc CVE-2019-5736).
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  g_init_fd = fd;
  return 0;
}

int launch_sandbox(const LaunchSpec &spec, Launched *out, LaunchFailure *fail) {
  int r = prepare_init_binary();
  if (r < 0) return fail_with(fail, "init", "load sandbox-init into a memfd", -r);
  if (!t_stack) {
    void *s = mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (s == MAP_FAILED) return fail_with(fail, "clone", "allocate the clone stack", errno);
    t_stack = s;
  }
  int plan_fd = memfd_create("sandbox-plan", MFD_CLOEXEC);
  if (plan_fd < 0) return fail_with(fail, "plan", "create the plan memfd", errno);
  if (write(plan_fd, spec.blob.data(), spec.blob.size()) != (ssize_t)spec.blob.size()) {
    int e = errno ? errno : EIO;
    close(plan_fd);
    return fail_with(fail, "plan", "write the plan", e);
  }
  int report[2], sync[2];
  // The report channel carries the runs to init too (fds as SCM_RIGHTS): a socket.
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, report) < 0) {
    int e = errno;
    close(plan_fd);
    return fail_with(fail, "pipe", "create the sandbox's report socket", e);
  }
  if (pipe2(sync, O_CLOEXEC) < 0) {
    int e = errno;
    close(plan_fd);
    close(report[0]);
    close(report[1]);
    return fail_with(fail, "pipe", "create the sandbox's sync pipe", e);
  }
  // The cgroup files are opened here, by the caller, who may write them; init writes "0" (itself)
  // to each. Not the caller writing init's pid: on cgroup v1 that takes the kernel's global
  // cgroup_threadgroup_rwsem for writing, which waits for an RCU grace period (milliseconds per
  // launch), while a task moving itself alone takes no such lock. Opened only when
  // clone cannot place init itself (v1; v2 before CLONE_INTO_CGROUP).
  ChildArgs args = {{spec.stdio[0], spec.stdio[1], spec.stdio[2], plan_fd, report[1], sync[0], g_init_fd}, kInitFds};
  std::string cg_failed;  // the cgroup file that could not be opened
  // Appends the cgroup files to args: 0, or -errno with cg_failed naming the file.
  auto pass_cgroup_files = [&]() {
    for (auto &procs : spec.cgroup_procs) {
      // Opened ahead by the caller (a cgroup made ahead, lib/cgroup/reserve.ts): a copy, so the
      // closing below stays the same; the caller's own fd is left to it.
      int fd = procs.fd >= 0 ? fcntl(procs.fd, F_DUPFD_CLOEXEC, 0) : open(procs.path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) {
        int e = errno;
        cg_failed = procs.path;
        return -e;
      }
      args.fds[args.count++] = fd;
    }
    return 0;
  };
  auto close_cgroup_files = [&]() {
    for (int i = kInitFds; i < args.count; i++) close(args.fds[i]);
  };
  // Everything opened so far, closed when the launch stops before clone.
  auto abandon = [&](const char *stage, const std::string &detail, int e) {
    close_cgroup_files();
    close(plan_fd);
    close(report[0]);
    close(report[1]);
    close(sync[0]);
    close(sync[1]);
    return fail_with(fail, stage, detail, e);
  };

  int pidfd = -1;
  struct clone_args ca;
  memset(&ca, 0, sizeof ca);
  ca.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_NEWUSER | CLONE_NEWPID;
  ca.pidfd = (uint64_t)(uintptr_t)&pidfd;
  ca.exit_signal = SIGCHLD;
  ca.stack = (uint64_t)(uintptr_t)t_stack;
  ca.stack_size = kStackSize;
  bool into_cgroup = spec.cgroup_fd >= 0;
  if (into_cgroup) {
    ca.flags |= CLONE_INTO_CGROUP;
    ca.cgroup = (uint64_t)spec.cgroup_fd;
  } else if (int e = pass_cgroup_files(); e < 0) {
    return abandon("cgroup", "open " + cg_failed, -e);
  }

  // Every signal blocked across clone: a handler run by the child would run Node's code on a
  // shared heap. The child inherits the mask; sandbox-init sets its own.
  sigset_t all, old;
  sigfillset(&all);
  // sigprocmask is per-thread in glibc, as pthread_sigmask; its symbol is older (pthread_sigmask@2.32
  // would make the prebuilt addon need glibc 2.32 where Node 20 needs 2.28).
  sigprocmask(SIG_SETMASK, &all, &old);
  // A pooled network namespace is entered by this thread for the clone only: the child inherits
  // it, and only this thread's namespace changes (setns(2)). The sandbox's user namespace is a
  // child of ours, so it has no capability over a namespace made out here: the child could
  // not join it itself.
  bool lent = spec.netns_fd >= 0;
  if (lent) {
    int e = netns_enter(spec.netns_fd);
    if (e < 0) {
      sigprocmask(SIG_SETMASK, &old, nullptr);
      return abandon("network", "enter a pooled network namespace", -e);
    }
  }
  long pid = sbx_clone3(&ca, sizeof ca, child_main, &args);
  if (pid == -EINVAL && into_cgroup) {
    // CLONE_INTO_CGROUP needs Linux 5.7 and cgroup v2: join through cgroup.procs instead.
    into_cgroup = false;
    ca.flags &= ~(uint64_t)CLONE_INTO_CGROUP;
    ca.cgroup = 0;
    int e = pass_cgroup_files();
    pid = e < 0 ? e : sbx_clone3(&ca, sizeof ca, child_main, &args);
  }
  if (pid == -ENOSYS) {
    // No clone3 (Linux < 5.3, or a container's seccomp profile): clone(2) has CLONE_PIDFD too.
    int e = into_cgroup ? pass_cgroup_files() : 0;
    into_cgroup = false;
    pid = e < 0 ? e
                : clone(child_main, (char *)t_stack + kStackSize,
                        CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_NEWUSER | CLONE_NEWPID | SIGCHLD, &args, &pidfd);
    if (e == 0 && pid < 0) pid = -errno;
  }
  if (lent) netns_leave();
  sigprocmask(SIG_SETMASK, &old, nullptr);
  close(plan_fd);
  close(report[1]);
  close(sync[0]);
  close_cgroup_files();
  if (pid < 0) {
    close(report[0]);
    close(sync[1]);
    if (!cg_failed.empty()) return fail_with(fail, "cgroup", "open " + cg_failed, (int)-pid);
    // CLONE_PIDFD makes an fd: out of them, the clone fails with EMFILE/ENFILE.
    if (pid == -EMFILE || pid == -ENFILE) return fail_with(fail, "clone", "create the sandbox's pidfd", (int)-pid);
    return fail_with(fail, "clone", "create the sandbox's user and pid namespaces", (int)-pid);
  }

  // The init joins its cgroups first thing (or clone put it there), then waits on the sync pipe
  // for its id maps: nothing of the sandbox runs outside its cgroup.
  int err = 0;
  std::string what;
  if (!err && spec.defer_release) {
    fcntl(report[0], F_SETFL, O_NONBLOCK);
    out->pid = (pid_t)pid;
    out->pidfd = pidfd;
    out->report_fd = report[0];
    out->sync_fd = sync[1];
    return 0;
  }
  if (!err && spec.parent_writes_maps) {
    std::string base = "/proc/" + std::to_string(pid);
    if ((err = -write_proc_file(base + "/uid_map", spec.uid_map))) what = "write " + base + "/uid_map";
    else if ((err = -write_proc_file(base + "/gid_map", spec.gid_map))) what = "write " + base + "/gid_map";
  }
  if (!err && write(sync[1], "g", 1) != 1) {
    err = errno;
    what = "release the sandbox's init";
  }
  close(sync[1]);
  if (err) {
    // The init sees EOF on the sync pipe and exits; make sure, and reap it.
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
    siginfo_t si;
    syscall(SYS_waitid, P_PIDFD, pidfd, &si, WEXITED, nullptr);
    close(pidfd);
    // EPIPE: the child had already failed (e.g. no fd left to dup its own into place) and said
    // why on the report pipe: that is the failure to name, not the release it made impossible.
    wire::Report r;
    fcntl(report[0], F_SETFL, O_NONBLOCK);
    if (read(report[0], &r, sizeof r) == (ssize_t)sizeof r && r.kind == wire::kReportError) {
      r.stage[sizeof r.stage - 1] = 0;
      r.detail[sizeof r.detail - 1] = 0;
      close(report[0]);
      return fail_with(fail, r.stage, r.detail, r.err);
    }
    close(report[0]);
    return fail_with(fail, "setup", what, err);
  }
  fcntl(report[0], F_SETFL, O_NONBLOCK);
  out->pid = (pid_t)pid;
  out->pidfd = pidfd;
  out->report_fd = report[0];
  return 0;
}
