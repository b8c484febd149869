#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "loopback.h"

namespace {

// The launching thread's own namespace, opened once per thread (the addon also runs in workers).
thread_local int t_home = -1;

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

}  // namespace

int netns_create() { return on_own_thread(create_here, 0); }

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
