// The addon's fds watched on the event loop through one epoll set per environment (fd_watch.cc):
// each sandbox's pidfd and report socket, each run's report pipe, captured outputs. A run watches
// three or four short-lived fds; a uv_poll_t each costs six epoll_ctl calls and an ioctl over its
// life (libuv probes every new fd with an ADD and a DEL), one here costs two epoll_ctl calls, and
// the set is the addon's only libuv handle, closed with its environment.
#pragma once
#include <node_api.h>

struct FdWatch;

// Called on the event loop's thread, outside any HandleScope: the callback opens its own scope
// before touching JS. Every owner reads its fd to EAGAIN or EOF, so a hang-up needs no flag.
using FdReady = void (*)(void *data);

// Called when the environment ends with the fd still watched (a worker terminated mid-run): the
// owner closes its fd and frees itself, calling no JS. nullptr: the owner has a teardown of its own.
using FdGone = void (*)(void *data);

// Watches fd (already non-blocking) for input until unwatch_fd. keeps_alive: Node does not exit
// while it is watched. nullptr with errno set when the fd cannot be watched.
FdWatch *watch_fd(napi_env env, int fd, FdReady ready, void *data, bool keeps_alive, FdGone gone = nullptr);

// Stops watching (before the caller closes fd). Safe inside any watch's callback: the watch is
// freed once the events in hand have been dispatched.
void unwatch_fd(FdWatch *w);

// Whether this watch keeps Node running (an idle warm sandbox does not, a busy one does).
void keep_alive(FdWatch *w, bool on);
