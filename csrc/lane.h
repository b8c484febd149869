// A thread of the addon's own per environment (the lane) for short blocking jobs the event loop's
// thread must not wait through: cgroup makings and removals (cgroupfs.cc). Jobs are handed over
// and back as pointers through two pipes, the way back watched on the loop (fd_watch.h).
//
// Why not libuv's thread pool: queueing work there signals a condition variable, and glibc's
// pthread_cond_signal waits (a futex) for a pool thread that was woken earlier to leave the old
// wait group. With the CPUs busy running sandboxes that thread may not get a CPU for milliseconds,
// and the event loop's thread waits with it. A pipe write waits for no other thread.
#pragma once
#include <node_api.h>

struct LaneJob {
  virtual ~LaneJob() = default;
  // On the lane's thread: no JS, no N-API.
  virtual void run() = 0;
  // On the event loop's thread, outside any HandleScope, once run() is done; the job is deleted after.
  virtual void done(napi_env env) = 0;
};

// Runs `job` and takes it (deleted after done(), or unrun when the environment ends first): on the
// environment's lane (made at the first call); on libuv's thread pool when no lane can be had or it
// holds as many jobs as its pipes do; on this thread, done() included, when not even that can be.
void lane_run(napi_env env, LaneJob *job);
