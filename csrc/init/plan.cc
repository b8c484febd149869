// Reads the plan the addon wrote (csrc/plan.cc) and checks every length against the buffer.
#include "plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../wire.h"

namespace {

struct Cursor {
  uint8_t *p;
  uint8_t *end;
  bool ok = true;

  uint32_t u32() {
    uint32_t v = 0;
    if (end - p < 4) return fail();
    memcpy(&v, p, 4);
    p += 4;
    return v;
  }
  uint64_t u64() {
    uint64_t v = 0;
    if (end - p < 8) return fail();
    memcpy(&v, p, 8);
    p += 8;
    return v;
  }
  // A string is its length, its bytes and a NUL; the pointer stays valid in the buffer.
  const char *str() {
    uint32_t n = u32();
    if (!ok || (uint64_t)(end - p) < (uint64_t)n + 1 || p[n] != 0 || memchr(p, 0, n)) {
      fail();
      return "";
    }
    const char *s = (const char *)p;
    p += n + 1;
    return s;
  }
  const uint8_t *bytes(uint32_t n) {
    if ((uint64_t)(end - p) < n) {
      fail();
      return nullptr;
    }
    const uint8_t *b = p;
    p += n;
    return b;
  }
  uint32_t fail() {
    ok = false;
    p = end;
    return 0;
  }
};

char **str_array(Cursor &c) {
  uint32_t n = c.u32();
  if (!c.ok || n > wire::kMaxStrings) return nullptr;
  char **v = (char **)calloc(n + 1, sizeof(char *));
  if (!v) return nullptr;
  for (uint32_t i = 0; i < n && c.ok; i++) v[i] = (char *)c.str();
  return c.ok ? v : nullptr;
}

}  // namespace

int read_plan(int fd, Plan *plan) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -errno;
  if (st.st_size < 8 || st.st_size > wire::kMaxBytes) return -EINVAL;
  uint8_t *buf = (uint8_t *)malloc(st.st_size);
  if (!buf) return -ENOMEM;
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t n = pread(fd, buf + got, st.st_size - got, got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? -errno : -EINVAL;
    got += n;
  }
  Cursor c{buf, buf + st.st_size};
  if (c.u32() != wire::kMagic || c.u32() != wire::kVersion) return -EINVAL;
  plan->namespaces = c.u32();
  plan->uid = c.u32();
  plan->gid = c.u32();
  plan->parent_writes_maps = c.u32() != 0;
  plan->tty = c.u32() != 0;
  plan->uid_map = c.str();
  plan->gid_map = c.str();
  plan->hostname = c.str();
  plan->cwd = c.str();
  plan->argv = str_array(c);
  plan->envp = str_array(c);
  plan->nmounts = c.u32();
  if (!c.ok || plan->nmounts > wire::kMaxMounts) return -EINVAL;
  plan->mounts = (MountSpec *)calloc(plan->nmounts + 1, sizeof(MountSpec));
  if (!plan->mounts) return -ENOMEM;
  for (uint32_t i = 0; i < plan->nmounts && c.ok; i++) {
    MountSpec &m = plan->mounts[i];
    m.op = c.u32();
    m.flags = c.u32();
    m.src = c.str();
    m.dst = c.str();
    m.data = c.str();
    if (m.op < 1 || m.op > wire::kMountOpLast || m.dst[0] != '/') c.fail();
  }
  plan->nrlimits = c.u32();
  if (!c.ok || plan->nrlimits > 64) return -EINVAL;
  plan->rlimits = (RlimitSpec *)calloc(plan->nrlimits + 1, sizeof(RlimitSpec));
  if (!plan->rlimits) return -ENOMEM;
  for (uint32_t i = 0; i < plan->nrlimits && c.ok; i++) {
    plan->rlimits[i].resource = c.u32();
    plan->rlimits[i].soft = c.u64();
    plan->rlimits[i].hard = c.u64();
  }
  plan->seccomp_len = c.u32();
  plan->seccomp = plan->seccomp_len ? c.bytes(plan->seccomp_len) : nullptr;
  if (!c.ok || c.p != c.end || !plan->argv || !plan->envp || !plan->argv[0]) return -EINVAL;
  if ((plan->namespaces & ~(wire::kNsAllowed | wire::kNsNetLent)) != 0 || plan->seccomp_len % 8 != 0) return -EINVAL;
  return 0;
}
