// The lane: one thread per environment running LaneJobs in order (lane.h says why not libuv's pool).
#include "lane.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "fd_watch.h"

namespace {

// Jobs handed over and not yet done, at most: never more than either pipe holds (usually 64 KiB,
// 8,192 pointers; one page when the user is over fs/pipe-user-pages-soft), so the lane never waits
// to hand a job back. The loop's thread writes without blocking: a full pipe refuses the job.
constexpr size_t kMaxPending = 1024;

struct Lane {
  napi_env env;
  int req_w = -1, req_r = -1;    // jobs to run: the loop's thread writes, the lane reads
  int done_w = -1, done_r = -1;  // jobs run: the lane writes, the loop's thread reads
  // libuv's threads (exported by Node), as csrc/netns.cc: pthread_create's glibc 2.34 symbol
  // version would break the prebuilt addon on older glibc (.ci/prebuild.sh checks for 2.28).
  uv_thread_t thread;
  FdWatch *watch = nullptr;
  size_t pending = 0;
  size_t max_pending = kMaxPending;
  std::atomic<bool> stopping{false};
};

std::vector<Lane *> g_lanes;
std::mutex g_lanes_lock;

// Whole pointers only: every write is one pointer, which a pipe takes atomically (< PIPE_BUF).
bool write_ptr(int fd, LaneJob *job) {
  ssize_t n;
  do n = write(fd, &job, sizeof job);
  while (n < 0 && errno == EINTR);
  return n == (ssize_t)sizeof job;
}

void lane_main(void *arg) {
  Lane *l = (Lane *)arg;
  // Every signal blocked (sigprocmask acts on the calling thread): they stay Node's threads' to take.
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, nullptr);
  prctl(PR_SET_NAME, "sandbox-lane");
  for (;;) {
    LaneJob *job;
    ssize_t n = read(l->req_r, &job, sizeof job);
    if (n < 0 && errno == EINTR) continue;
    if (n != (ssize_t)sizeof job) break;  // EOF: the environment is ending
    // Once the environment ends, jobs are passed back unrun (their JS is gone): a cgroup made
    // now would be nobody's.
    if (!l->stopping.load()) job->run();
    write_ptr(l->done_w, job);
  }
  close(l->req_r);
  close(l->done_w);
}

// Jobs run: each done(), then freed. A callback may hand over new jobs meanwhile.
void on_done(void *data) {
  Lane *l = (Lane *)data;
  for (;;) {
    LaneJob *jobs[32];
    ssize_t n = read(l->done_r, jobs, sizeof jobs);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (size_t i = 0; i < (size_t)n / sizeof jobs[0]; i++) {
      l->pending--;
      jobs[i]->done(l->env);
      delete jobs[i];
    }
  }
  keep_alive(l->watch, l->pending > 0);
}

// The environment ends (fd_watch's teardown; the watch is freed after this): the lane's thread
// passes back what is left unrun and exits; the jobs are freed here, on the environment's thread,
// calling no JS.
void on_gone(void *data) {
  Lane *l = (Lane *)data;
  l->stopping.store(true);
  close(l->req_w);
  uv_thread_join(&l->thread);
  for (;;) {
    LaneJob *job;
    ssize_t n = read(l->done_r, &job, sizeof job);
    if (n < 0 && errno == EINTR) continue;
    if (n != (ssize_t)sizeof job) break;
    delete job;
  }
  close(l->done_r);
  {
    std::lock_guard<std::mutex> hold(g_lanes_lock);
    for (auto it = g_lanes.begin(); it != g_lanes.end(); ++it) {
      if (*it == l) {
        g_lanes.erase(it);
        break;
      }
    }
  }
  delete l;
}

Lane *make_lane(napi_env env) {
  int req[2], done[2];
  if (pipe2(req, O_CLOEXEC) < 0) return nullptr;
  if (pipe2(done, O_CLOEXEC) < 0) {
    int e = errno;
    close(req[0]);
    close(req[1]);
    errno = e;
    return nullptr;
  }
  Lane *l = new Lane();
  l->env = env;
  l->req_r = req[0];
  l->req_w = req[1];
  l->done_r = done[0];
  l->done_w = done[1];
  fcntl(l->done_r, F_SETFL, O_NONBLOCK);
  fcntl(l->req_w, F_SETFL, O_NONBLOCK);
  int req_size = fcntl(l->req_w, F_GETPIPE_SZ), done_size = fcntl(l->done_w, F_GETPIPE_SZ);
  if (req_size > 0 && done_size > 0) {
    size_t fits = (size_t)(req_size < done_size ? req_size : done_size) / sizeof(LaneJob *);
    if (fits < l->max_pending) l->max_pending = fits;
  }
  auto undo = [&](int e) {
    close(req[0]);
    close(req[1]);
    close(done[0]);
    close(done[1]);
    delete l;
    errno = e;
    return (Lane *)nullptr;
  };
  l->watch = watch_fd(env, l->done_r, on_done, l, false, on_gone);
  if (l->watch == nullptr) return undo(errno);
  if (int e = uv_thread_create(&l->thread, lane_main, l); e != 0) {
    unwatch_fd(l->watch);
    return undo(-e);
  }
  return l;
}

bool lane_submit(napi_env env, LaneJob *job) {
  Lane *l = nullptr;
  {
    std::lock_guard<std::mutex> hold(g_lanes_lock);
    for (Lane *x : g_lanes)
      if (x->env == env) l = x;
  }
  if (l == nullptr) {
    // Made on the environment's own thread, so no other call can make one for it meanwhile.
    l = make_lane(env);
    if (l == nullptr) return false;
    std::lock_guard<std::mutex> hold(g_lanes_lock);
    g_lanes.push_back(l);
  }
  if (l->pending >= l->max_pending) {
    errno = EAGAIN;
    return false;
  }
  if (!write_ptr(l->req_w, job)) return false;
  if (l->pending++ == 0) keep_alive(l->watch, true);
  return true;
}

// A job on libuv's pool: its queueing may wait as lane.h says, which beats not running it.
struct PoolJob {
  LaneJob *job;
  napi_async_work work = nullptr;
};

bool pool_submit(napi_env env, LaneJob *job) {
  PoolJob *p = new PoolJob{job};
  napi_value name;
  auto execute = [](napi_env, void *data) { ((PoolJob *)data)->job->run(); };
  auto complete = [](napi_env env, napi_status status, void *data) {
    PoolJob *p = (PoolJob *)data;
    if (status == napi_ok) p->job->done(env);
    delete p->job;
    napi_delete_async_work(env, p->work);
    delete p;
  };
  if (napi_create_string_utf8(env, "sandbox:lane", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, nullptr, name, execute, complete, p, &p->work) != napi_ok) {
    delete p;
    return false;
  }
  if (napi_queue_async_work(env, p->work) != napi_ok) {
    napi_delete_async_work(env, p->work);
    delete p;
    return false;
  }
  return true;
}

}  // namespace

void lane_run(napi_env env, LaneJob *job) {
  if (lane_submit(env, job) || pool_submit(env, job)) return;
  job->run();
  job->done(env);
  delete job;
}
