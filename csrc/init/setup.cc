#include "setup.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <initializer_list>

#include "../loopback.h"
#include "../wire.h"
#include "report.h"

static void write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die("userns", errno, "open %s", path);
  size_t len = strlen(text);
  if (write(fd, text, len) != (ssize_t)len) die("userns", errno, "write %s", path);
  close(fd);
}

void write_own_id_maps(const Plan &plan) {
  // An unprivileged process may map only its own ids, and only after giving up setgroups
  // (user_namespaces(7), CVE-2014-8989).
  write_file("/proc/self/setgroups", "deny");
  write_file("/proc/self/uid_map", plan.uid_map);
  write_file("/proc/self/gid_map", plan.gid_map);
}

void enter_namespaces(const Plan &plan) {
  // The cgroup namespace is made last-but-mount here, once init is in its cgroup,
  // so the sandbox sees its own cgroup as the root.
  int flags = CLONE_NEWNS | (int)(plan.namespaces & wire::kNsAllowed);
  if (unshare(flags) < 0) die("unshare", errno, "create namespaces (flags 0x%x)", flags);
  if ((plan.namespaces & wire::kNsUts) && sethostname(plan.hostname, strlen(plan.hostname)) < 0) {
    die("hostname", errno, "set hostname %s", plan.hostname);
  }
  if (plan.namespaces & wire::kNsNet) {
    int r = loopback_up();
    if (r < 0) die("network", -r, "bring lo up");
  }
}

// 1 when every "used N", "inuse N" and "tw N" of a sockstat file is 0, 0 when one is not. These
// are the namespace's own counts: every socket of every family ("sockets: used", counted in
// sk_alloc), each protocol's sockets, the TIME_WAIT entries the kernel keeps after a close, and
// the IP fragment queues (a datagram half sent by one sandbox must not be completed by the next).
// "orphan", "alloc" and "mem" are the host's totals, and not looked at.
static bool counts_zero(const char *text) {
  for (const char *key : {"used ", "inuse ", " tw "}) {
    size_t len = strlen(key);
    for (const char *p = strstr(text, key); p; p = strstr(p + len, key)) {
      if (strtol(p + len, nullptr, 10) != 0) return false;
    }
  }
  return true;
}

// counts_zero() of a sockstat file; `missing` when it is not there (a kernel without IPv6).
static bool file_counts_zero(const char *path, bool missing) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT && missing;
  char buf[2048];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  return strstr(buf, "inuse ") != nullptr && counts_zero(buf);  // not the format this reads: false
}

bool netns_empty() { return file_counts_zero("/proc/self/net/sockstat", false) && file_counts_zero("/proc/self/net/sockstat6", true); }
