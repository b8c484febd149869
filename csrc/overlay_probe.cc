// The overlay probe: a child in a new user and mount namespace, as a sandbox's init is, mounts a
// read-only overlay of the directories on the first of them and exits with the errno (0: it
// works). The mount dies with the child's mount namespace. Like the launch path (spawn.cc), the
// child shares the caller's memory (CLONE_VM | CLONE_VFORK: nothing of Node's heap is copied),
// makes raw system calls only, and runs with every signal blocked.
#include "overlay_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

constexpr size_t kStackSize = 64 * 1024;

struct ProbeArgs {
  char uid_map[64];
  char gid_map[64];
  char target[4096];
  char data[4096];
};

int write_file(const char *path, const char *text) {
  int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  size_t len = strlen(text);
  int r = syscall(SYS_write, fd, text, len) == (long)len ? 0 : errno;
  syscall(SYS_close, fd);
  return r;
}

int probe_child(void *p) {
  const ProbeArgs *a = (const ProbeArgs *)p;
  // One id mapped: the caller's own, as the sandbox's single-id map does.
  int r = write_file("/proc/self/setgroups", "deny");
  if (r == 0) r = write_file("/proc/self/uid_map", a->uid_map);
  if (r == 0) r = write_file("/proc/self/gid_map", a->gid_map);
  if (r != 0) return r & 0xff;
  if (syscall(SYS_mount, "overlay", a->target, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, a->data) < 0) return errno & 0xff;
  return 0;
}

}  // namespace

int probe_overlay(const char *lowers) {
  ProbeArgs args;  // the caller's thread is suspended while the child uses it (CLONE_VFORK)
  snprintf(args.uid_map, sizeof args.uid_map, "0 %u 1\n", (unsigned)geteuid());
  snprintf(args.gid_map, sizeof args.gid_map, "0 %u 1\n", (unsigned)getegid());
  const char *colon = strchr(lowers, ':');
  size_t first = colon == nullptr ? strlen(lowers) : (size_t)(colon - lowers);
  if (colon == nullptr || first >= sizeof args.target) return EINVAL;
  memcpy(args.target, lowers, first);
  args.target[first] = 0;
  if ((size_t)snprintf(args.data, sizeof args.data, "lowerdir=%s,userxattr", lowers) >= sizeof args.data) return ENAMETOOLONG;
  void *stack = mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return errno;
  sigset_t all, old;
  sigfillset(&all);
  // sigprocmask is per-thread in glibc (its symbol is older than pthread_sigmask's, spawn.cc).
  sigprocmask(SIG_SETMASK, &all, &old);
  int pid = clone(probe_child, (char *)stack + kStackSize, CLONE_VM | CLONE_VFORK | CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD, &args);
  int err = pid < 0 ? errno : 0;
  sigprocmask(SIG_SETMASK, &old, nullptr);
  int status = 0;
  if (pid > 0) {
    while (waitpid(pid, &status, __WALL) < 0 && errno == EINTR) {
    }
    err = WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
  }
  munmap(stack, kStackSize);
  return err;
}
