// Order matters (bubblewrap's): new session; rlimits; ids; capabilities dropped with the
// securebits locked so uid 0 inside cannot regain them; no_new_privs; seccomp last, because
// the filter may deny the calls made before it; then execve, searching PATH like execvp.
#include "command.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "report.h"

namespace {

int g_err_fd = -1;

[[noreturn]] void fail(const char *stage, int err, const char *detail) {
  report_error(g_err_fd, stage, err, "%s", detail);
  _exit(127);
}

// settle_inheritance() ran in this process or the one it was forked from.
bool g_settled = false;

// Node ignores SIGPIPE, and an ignored signal stays ignored across execve.
void default_dispositions() {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &sa, nullptr);  // EINVAL for KILL/STOP
}

// Each drop is a new set of credentials (~1.5 us): only the capabilities still in the set are
// dropped, and the reads stop at the first number past the kernel's last capability (EINVAL).
int drop_bounding_set() {
  for (int cap = 0; cap <= 63; cap++) {
    int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (in < 0) return errno == EINVAL ? 0 : -errno;
    if (in == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) return -errno;
  }
  return 0;
}

void reset_signals() {
  if (!g_settled) default_dispositions();
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

// Every capability gone from every set, and securebits locked so that neither uid 0 nor a
// setuid transition brings any back (capabilities(7), "securebits").
void drop_capabilities() {
  if (prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_NOROOT |
                                   SECBIT_NOROOT_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED) < 0) {
    fail("capabilities", errno, "lock securebits");
  }
  if (int r = drop_bounding_set(); r < 0) fail("capabilities", -r, "drop the bounding set");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) fail("capabilities", errno, "clear ambient capabilities");
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &hdr, data) < 0) fail("capabilities", errno, "drop capabilities");
}

const char *env_path(char **envp) {
  for (char **e = envp; *e; e++) {
    if (strncmp(*e, "PATH=", 5) == 0) return *e + 5;
  }
  return "/usr/local/bin:/usr/bin:/bin";
}

// execvp's rules: a name with a slash is run as is; otherwise each PATH entry is tried, EACCES
// is remembered (and reported if nothing else runs), ENOENT/ENOTDIR move on, anything else stops.
[[noreturn]] void exec_search(char **argv, char **envp) {
  const char *name = argv[0];
  char detail[512];
  if (strchr(name, '/')) {
    execve(name, argv, envp);
    int e = errno;
    snprintf(detail, sizeof detail, "execute %s", name);
    fail("exec", e, detail);
  }
  const char *path = env_path(envp);
  bool saw_eacces = false;
  int last = ENOENT;
  char buf[4096];
  size_t nlen = strlen(name);
  for (const char *p = path;; p++) {
    const char *end = strchrnul(p, ':');
    size_t dlen = end - p;
    if (dlen + nlen + 2 <= sizeof buf) {
      if (dlen == 0) {
        buf[0] = '.';
        dlen = 1;
      } else {
        memcpy(buf, p, dlen);
      }
      buf[dlen] = '/';
      memcpy(buf + dlen + 1, name, nlen + 1);
      execve(buf, argv, envp);
      last = errno;
      if (last == EACCES) saw_eacces = true;
      else if (last != ENOENT && last != ENOTDIR) break;
    }
    if (*end == 0) break;
    p = end;
  }
  snprintf(detail, sizeof detail, "execute %s", name);
  fail("exec", saw_eacces ? EACCES : last, detail);
}

}  // namespace

void settle_inheritance() {
  default_dispositions();
  if (int r = drop_bounding_set(); r < 0) die("capabilities", -r, "drop the bounding set");
  g_settled = true;
}

void exec_command(const Plan &plan, int err_fd) {
  g_err_fd = err_fd;
  reset_signals();
  if (setsid() < 0) fail("session", errno, "start a new session");
  if (plan.tty && isatty(0) && ioctl(0, TIOCSCTTY, 0) < 0) fail("tty", errno, "make the pty the controlling terminal");
  for (uint32_t i = 0; i < plan.nrlimits; i++) {
    struct rlimit rl = {plan.rlimits[i].soft, plan.rlimits[i].hard};
    if (setrlimit(plan.rlimits[i].resource, &rl) < 0) {
      char d[64];
      snprintf(d, sizeof d, "set rlimit %u", plan.rlimits[i].resource);
      fail("rlimit", errno, d);
    }
  }
  // Supplementary groups can only be cleared where setgroups is allowed (parent-written maps);
  // in a self-mapped namespace it is denied and the caller's groups are already unmapped.
  if (plan.parent_writes_maps && setgroups(0, nullptr) < 0 && errno != EPERM) fail("ids", errno, "clear supplementary groups");
  if (setresgid(plan.gid, plan.gid, plan.gid) < 0) fail("ids", errno, "set gid");
  if (setresuid(plan.uid, plan.uid, plan.uid) < 0) fail("ids", errno, "set uid");
  drop_capabilities();
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("no_new_privs", errno, "set no_new_privs");
  if (plan.seccomp_len) {
    struct sock_fprog prog = {(unsigned short)(plan.seccomp_len / 8), (struct sock_filter *)plan.seccomp};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) fail("seccomp", errno, "install the seccomp filter");
  }
  // The moment of execve, for wall time: taken here because init may not be scheduled again
  // until long after the command started. Init reads it before the EOF that means "exec'd".
  uint64_t t = now_ns();
  ssize_t w;
  do w = write(err_fd, &t, sizeof t);
  while (w < 0 && errno == EINTR);
  exec_search(plan.argv, plan.envp);
}
