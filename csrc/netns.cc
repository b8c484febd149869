#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <initializer_list>

namespace {

// The launching thread's own namespace, opened once per thread (the addon also runs in workers).
thread_local int t_home = -1;

// SIOCSIFFLAGS on "lo": a new network namespace starts with loopback down.
int loopback_up() {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  int r = ioctl(s, SIOCGIFFLAGS, &ifr);
  if (r == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    r = ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  int e = r < 0 ? -errno : 0;
  close(s);
  return e;
}

// Runs fn on a new thread and waits for it: namespace changes stay on a thread that then ends.
// libuv's threads (exported by Node) rather than std::thread, which would abort when no thread
// can be made (the addon has no exceptions), or pthread_create, whose glibc 2.34 symbol version
// would raise the prebuilt addon's glibc floor above Node 20's 2.28.
struct Job {
  int (*fn)(int);
  int arg;
  int result;
};

void run_job(void *p) {
  Job *j = (Job *)p;
  j->result = j->fn(j->arg);
}

int on_own_thread(int (*fn)(int), int arg) {
  Job job = {fn, arg, -EAGAIN};
  uv_thread_t t;
  int e = uv_thread_create(&t, run_job, &job);
  if (e != 0) return e;  // already -errno
  uv_thread_join(&t);
  return job.result;
}

// 1 when every "used N", "inuse N" and "tw N" of a sockstat file is 0, 0 when one is not.
// These are the namespace's own counts: every socket of every family ("sockets: used", counted
// in sk_alloc), each protocol's sockets, the TIME_WAIT entries the kernel keeps after a close,
// and the IP fragment queues (a datagram half sent by one sandbox must not be completed by the
// next). "orphan", "alloc" and "mem" are the host's totals, and not looked at.
int counts_zero(const char *text) {
  for (const char *key : {"used ", "inuse ", " tw "}) {
    size_t len = strlen(key);
    for (const char *p = strstr(text, key); p; p = strstr(p + len, key)) {
      if (strtol(p + len, nullptr, 10) != 0) return 0;
    }
  }
  return 1;
}

// counts_zero() of /proc/thread-self/net/<name>; `missing` when the file is not there (no IPv6).
int file_counts_zero(const char *path, int missing) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? missing : -errno;
  char buf[2048];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  int e = errno;
  close(fd);
  if (n <= 0) return n < 0 ? -e : -EIO;
  buf[n] = 0;
  if (!strstr(buf, "inuse ")) return -EPROTO;  // not the format this reads
  return counts_zero(buf);
}

int create_here(int) {
  if (unshare(CLONE_NEWNET) < 0) return -errno;
  int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int r = loopback_up();
  if (r < 0) {
    close(fd);
    return r;
  }
  return fd;
}

int check_in(int fd) {
  if (setns(fd, CLONE_NEWNET) < 0) return -errno;
  int v4 = file_counts_zero("/proc/thread-self/net/sockstat", -ENOENT);
  if (v4 != 1) return v4;
  return file_counts_zero("/proc/thread-self/net/sockstat6", 1);
}

}  // namespace

int netns_create() { return on_own_thread(create_here, 0); }

int netns_is_empty(int fd) { return on_own_thread(check_in, fd); }

int netns_remember_home() {
  if (t_home < 0) t_home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  return t_home < 0 ? -errno : 0;
}

int netns_enter(int fd) {
  int r = netns_remember_home();
  if (r < 0) return r;
  return setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
}

void netns_leave() {
  if (setns(t_home, CLONE_NEWNET) < 0) abort();
}
