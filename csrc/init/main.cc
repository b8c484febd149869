// sandbox-init: pid 1 of every sandbox. A small static program, so it runs in any rootfs.
//
// The addon's clone child (csrc/spawn.cc) made the user and pid namespaces, set the parent-death
// signal, raised ambient capabilities (so this program keeps its capabilities in the new user
// namespace across execve whatever its uid) and exec'd this binary with:
//   fd 0-2 the first run's stdio (a terminal is bound at /dev/console from fd 0), 3 the plan
//   (memfd), 4 the report socket, which also brings the runs, 5 the parent's "go" pipe,
//   6 this binary's memfd, and from 7 up the cgroup files to join (when clone could not).
//
// The sequence, in order:
//   1. block every signal (they are taken synchronously in the reaper loop below); join the
//      cgroups whose files the parent passed from fd 7 up
//   2. read the plan
//   3. wait for the parent's "go" (as root, it wrote the id maps:
//      then switch to the mapped ids), or write our own single-id maps
//   4. unshare mount (+ net, ipc, uts, cgroup) namespaces; hostname; loopback up
//   5. build the filesystem and pivot_root into it (mounts.cc); chdir to the working directory
//   6. become non-dumpable: nothing inside can open /proc/1/mem or /proc/1/exe
//   7. serve runs (serve.cc), one or many: each arrives over the report socket with its plan, stdio
//      and cgroup files; init forks its command (command.cc: session, rlimits, ids, capabilities,
//      no_new_privs, seccomp, execve; its CLOEXEC error pipe says whether the execve happened),
//      forwards the parent's signals, reaps the tree, reports on the run's own pipe, resets the
//      sandbox for the next run, and exits when the parent has no more.
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <initializer_list>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../wire.h"
#include "mounts.h"
#include "plan.h"
#include "report.h"
#include "run.h"
#include "serve.h"
#include "setup.h"

namespace {

void wait_for_parent() {
  char go;
  ssize_t n;
  do n = read(wire::kSyncFd, &go, 1);
  while (n < 0 && errno == EINTR);
  // EOF without the byte: the parent failed to write our maps, or gave up.
  if (n != 1) _exit(1);
}

}  // namespace

int main() {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  join_cgroups();
  // Everything init holds stays out of the command: only 0-2 are inherited.
  for (int fd : {wire::kPlanFd, wire::kReportFd, wire::kSyncFd}) fcntl(fd, F_SETFD, FD_CLOEXEC);
  // The memfd this program was exec'd from is no longer needed, and must not reach the command.
  close(wire::kInitExeFd);
  // exec'd from a memfd, the kernel named us "memfd:sandbox-i": show `ps` the name we have.
  prctl(PR_SET_NAME, "sandbox-init", 0, 0, 0);

  Plan plan;
  memset(&plan, 0, sizeof plan);
  int r = read_plan(wire::kPlanFd, &plan);
  if (r < 0) die("plan", -r, "read the launch plan");
  close(wire::kPlanFd);

  wait_for_parent();
  if (plan.parent_writes_maps) {
    // A root caller's init is still host uid 0, which the map does not contain: become the
    // mapped ids now (capabilities stay: uid 0 of the parent namespace is not root here).
    // setgroups may be denied when newgidmap wrote the map (shadow's configuration): then the
    // caller's groups are unmapped anyway.
    if ((setgroups(0, nullptr) < 0 && errno != EPERM) || setresgid(plan.gid, plan.gid, plan.gid) < 0 ||
        setresuid(plan.uid, plan.uid, plan.uid) < 0) {
      die("ids", errno, "switch init to uid %u gid %u", plan.uid, plan.gid);
    }
  } else {
    write_own_id_maps(plan);
  }
  // A change of ids clears the parent-death signal (prctl(2), PR_SET_PDEATHSIG): arm it again,
  // then check the parent did not die before that. The parent holds the only read end of the
  // report socket, and a socket without its peer polls POLLHUP.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) die("prctl", errno, "set the parent-death signal");
  struct pollfd parent = {wire::kReportFd, POLLOUT, 0};
  if (poll(&parent, 1, 0) == 1 && (parent.revents & (POLLERR | POLLHUP))) _exit(1);
  close(wire::kSyncFd);

  enter_namespaces(plan);
  setup_mounts(plan);
  if (chdir(plan.cwd) < 0) die("chdir", errno, "change directory to %s", plan.cwd);
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) die("prctl", errno, "make init non-dumpable");

  serve(plan);
}
