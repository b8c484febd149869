// One epoll set per environment, watched by libuv as a single fd (a uv_poll_t on the epoll fd).
// Level-triggered: a callback that leaves data unread is called again at the next turn, as a
// uv_poll_t's would be.
#include "fd_watch.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <uv.h>

#include <mutex>
#include <set>
#include <vector>

struct FdWatchSet;

struct FdWatch {
  FdWatchSet *set;
  int fd;
  FdReady ready;
  void *data;
  bool keeps_alive;
  FdGone gone;
  bool dead = false;
};

struct FdWatchSet {
  uv_poll_t poll;
  napi_async_cleanup_hook_handle hook = nullptr;
  int epfd = -1;
  int alive = 0;  // watches that keep Node running
  bool dispatching = false;
  std::set<FdWatch *> live;     // freed with the set when the environment ends
  std::vector<FdWatch *> dead;  // unwatched while events that may name them are in hand
};

namespace {

void update_ref(FdWatchSet *s) {
  if (s->alive > 0) uv_ref((uv_handle_t *)&s->poll);
  else uv_unref((uv_handle_t *)&s->poll);
}

void free_dead(FdWatchSet *s) {
  for (FdWatch *w : s->dead) delete w;
  s->dead.clear();
}

void on_set_readable(uv_poll_t *handle, int status, int events) {
  (void)status;
  (void)events;
  FdWatchSet *s = (FdWatchSet *)handle->data;
  struct epoll_event ev[64];
  int n;
  do n = epoll_wait(s->epfd, ev, 64, 0);
  while (n < 0 && errno == EINTR);
  s->dispatching = true;
  for (int i = 0; i < n; i++) {
    FdWatch *w = (FdWatch *)ev[i].data.ptr;
    if (w->dead) continue;
    w->ready(w->data);
  }
  s->dispatching = false;
  free_dead(s);
}

struct EnvSet {
  napi_env env;
  FdWatchSet *set;
};
// Per environment (the main thread's and each worker's, each on its own thread); the addon's
// instance data is its Registry.
std::vector<EnvSet> g_sets;
std::mutex g_sets_lock;

// The environment ends: the set's handle is closed before its loop is (a worker's loop may not
// be closed with a handle open), then the environment's teardown goes on.
void on_env_gone(napi_async_cleanup_hook_handle hook, void *arg) {
  FdWatchSet *s = (FdWatchSet *)arg;
  s->hook = hook;
  {
    std::lock_guard<std::mutex> hold(g_sets_lock);
    for (auto it = g_sets.begin(); it != g_sets.end(); ++it) {
      if (it->set == s) {
        g_sets.erase(it);
        break;
      }
    }
  }
  uv_poll_stop(&s->poll);
  // The watches' owners are never called again: each closes its fd and frees itself here, or in
  // its own teardown (the sandboxes' children: addon.cc), not through the watch.
  for (FdWatch *w : s->live) {
    if (w->gone != nullptr) w->gone(w->data);
    delete w;
  }
  s->live.clear();
  free_dead(s);
  uv_close((uv_handle_t *)&s->poll, [](uv_handle_t *h) {
    FdWatchSet *gone = (FdWatchSet *)h->data;
    close(gone->epfd);
    napi_remove_async_cleanup_hook(gone->hook);
    delete gone;
  });
}

FdWatchSet *make_set(napi_env env) {
  uv_loop_t *loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return nullptr;
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) return nullptr;
  FdWatchSet *s = new FdWatchSet();
  s->epfd = epfd;
  s->poll.data = s;
  if (uv_poll_init(loop, &s->poll, epfd) != 0) {
    close(epfd);
    delete s;
    errno = EIO;
    return nullptr;
  }
  if (uv_poll_start(&s->poll, UV_READABLE, on_set_readable) != 0) {
    uv_close((uv_handle_t *)&s->poll, [](uv_handle_t *h) {
      FdWatchSet *unused = (FdWatchSet *)h->data;
      close(unused->epfd);
      delete unused;
    });
    errno = EIO;
    return nullptr;
  }
  update_ref(s);
  napi_add_async_cleanup_hook(env, on_env_gone, s, nullptr);
  return s;
}

FdWatchSet *set_of(napi_env env) {
  {
    std::lock_guard<std::mutex> hold(g_sets_lock);
    for (auto &e : g_sets)
      if (e.env == env) return e.set;
  }
  // Made on the environment's own thread, so no other call can make one for it meanwhile.
  FdWatchSet *s = make_set(env);
  if (s != nullptr) {
    std::lock_guard<std::mutex> hold(g_sets_lock);
    g_sets.push_back({env, s});
  }
  return s;
}

}  // namespace

FdWatch *watch_fd(napi_env env, int fd, FdReady ready, void *data, bool keeps_alive, FdGone gone) {
  FdWatchSet *s = set_of(env);
  if (s == nullptr) return nullptr;
  FdWatch *w = new FdWatch{s, fd, ready, data, keeps_alive, gone};
  struct epoll_event ev = {};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.ptr = w;
  if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    int e = errno;
    delete w;
    errno = e;
    return nullptr;
  }
  if (keeps_alive && s->alive++ == 0) update_ref(s);
  s->live.insert(w);
  return w;
}

void keep_alive(FdWatch *w, bool on) {
  if (w->keeps_alive == on) return;
  w->keeps_alive = on;
  FdWatchSet *s = w->set;
  s->alive += on ? 1 : -1;
  if (s->alive == (on ? 1 : 0)) update_ref(s);
}

void unwatch_fd(FdWatch *w) {
  FdWatchSet *s = w->set;
  epoll_ctl(s->epfd, EPOLL_CTL_DEL, w->fd, nullptr);
  if (w->keeps_alive && --s->alive == 0) update_ref(s);
  w->dead = true;
  s->live.erase(w);
  if (s->dispatching) s->dead.push_back(w);
  else delete w;
}
