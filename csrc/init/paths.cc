#include "paths.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace {

int g_root = -1;
const char *g_root_path = "/newroot";  // the same root by path, for kernels without openat2
bool g_have_openat2 = true;

// parent_in_root()'s directory: its path as asked, and its fd.
char g_parent_path[PATH_MAX];
int g_parent_fd = -1;

}  // namespace

int create_entry(int parent, const char *name, bool file) {
  int r;
  if (file) {
    int fd = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
    r = fd < 0 ? -1 : close(fd);
  } else {
    r = mkdirat(parent, name, 0755);
  }
  if (r == 0) return 0;
  return errno == EEXIST ? 1 : -errno;
}

void set_lookup_root(int root_fd, const char *path) {
  g_root = root_fd;
  g_root_path = path;
}

int open_in_root(const char *path, int flags) {
  if (g_have_openat2) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_PATH | O_CLOEXEC | flags;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    int fd = syscall(SYS_openat2, g_root, path, &how, sizeof how);
    if (fd >= 0) return fd;
    if (errno != ENOSYS) return -errno;
    g_have_openat2 = false;  // kernel < 5.6: plain lookup below the root's path
  }
  char full[PATH_MAX];
  if (snprintf(full, sizeof full, "%s%s", g_root_path, path) >= (int)sizeof full) return -ENAMETOOLONG;
  int fd = open(full, O_PATH | O_CLOEXEC | flags);
  return fd >= 0 ? fd : -errno;
}

int make_path(const char *path, Create last) {
  int fd = open_in_root(path, 0);
  if (fd >= 0 || fd != -ENOENT || last == kNoCreate) return fd;
  char buf[PATH_MAX];
  size_t len = strlen(path);
  if (len >= sizeof buf || path[0] != '/') return len >= sizeof buf ? -ENAMETOOLONG : -EINVAL;
  memcpy(buf, path, len + 1);
  while (len > 1 && buf[len - 1] == '/') buf[--len] = 0;

  // Up from the end to the deepest ancestor that exists, looked up in the root (symlinks in a
  // rootfs resolve as they would inside). Usually the parent: one lookup.
  size_t name = len;  // buf[name, len) starts with the first missing component
  int parent;
  for (;;) {
    while (name > 0 && buf[name - 1] != '/') name--;
    size_t parent_end = name;
    while (parent_end > 1 && buf[parent_end - 1] == '/') parent_end--;
    char keep = buf[parent_end];
    buf[parent_end] = 0;
    parent = open_in_root(buf, 0);
    buf[parent_end] = keep;
    if (parent >= 0) break;
    if (parent != -ENOENT || parent_end <= 1) return parent;
    name = parent_end;
  }

  // Down again, creating each missing component. They are new and empty, so they are opened
  // relative to their parent; an entry that appeared meanwhile (or a dangling symlink) is looked
  // up in the root instead, as any existing path is.
  for (;;) {
    size_t end = name;
    while (end < len && buf[end] != '/') end++;
    bool is_last = end >= len;
    char keep = buf[end];
    buf[end] = 0;
    int r = create_entry(parent, buf + name, is_last && last == kCreateFile);
    int next = r;
    if (r == 0) {
      next = openat(parent, buf + name, O_PATH | O_CLOEXEC | O_NOFOLLOW);
      if (next < 0) next = -errno;
    } else if (r == 1) {
      next = open_in_root(buf, 0);  // buf ends here: the path so far
    }
    buf[end] = keep;
    close(parent);
    if (next < 0) return next;
    if (is_last) return next;
    parent = next;
    name = end;
    while (name < len && buf[name] == '/') name++;
  }
}

void forget_parent() {
  if (g_parent_fd >= 0) close(g_parent_fd);
  g_parent_fd = -1;
  g_parent_path[0] = 0;
}

int parent_in_root(const char *path, char *leaf) {
  char buf[PATH_MAX];
  size_t len = strlen(path);
  if (len >= sizeof buf || path[0] != '/') return len >= sizeof buf ? -ENAMETOOLONG : -EINVAL;
  memcpy(buf, path, len + 1);
  while (len > 1 && buf[len - 1] == '/') buf[--len] = 0;
  char *slash = strrchr(buf, '/');
  const char *name = slash + 1;
  size_t nlen = strlen(name);
  if (nlen == 0 || strcmp(name, ".") == 0) return -EINVAL;
  if (nlen > NAME_MAX) return -ENAMETOOLONG;
  memcpy(leaf, name, nlen + 1);
  // The parent: everything before the last slash, without trailing slashes ("/" at least).
  size_t plen = slash - buf;
  while (plen > 0 && buf[plen - 1] == '/') plen--;
  if (plen == 0) plen = 1;
  buf[plen] = 0;
  if (g_parent_fd >= 0 && strcmp(buf, g_parent_path) == 0) return g_parent_fd;
  forget_parent();
  int fd = make_path(buf, kCreateDir);
  if (fd < 0) return fd;
  memcpy(g_parent_path, buf, plen + 1);
  g_parent_fd = fd;
  return fd;
}
