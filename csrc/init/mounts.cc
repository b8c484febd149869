// The sandbox's filesystem, built the way bubblewrap builds it:
//   1. make every mount a slave, so nothing we do propagates back to the host;
//   2. mount a tmpfs on /tmp and pivot_root into it: the host's root is now /oldroot;
//   3. build the new root at /newroot from the plan's mount list (host paths under /oldroot);
//   4. pivot_root into /newroot and detach the staging area with the host's root in it.
// A tmpfs root (the default host view) skips 2: it is built where it is mounted, on the host's
// /proc/irq (kBuildInPlace: a directory no bind source names), host paths as they are, and one
// pivot_root leaves the host's root on top of it, detached at once. One tmpfs, two directories
// and one pivot_root (which walks every task on the host) fewer per run.
// Mount targets are resolved with openat2(RESOLVE_IN_ROOT) relative to the new root (paths.cc), so a
// symlink planted in a rootfs or a writable bind (by an earlier run) cannot redirect a mount
// outside it. Binds use the new mount API where the kernel has it (bind_copy).
#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>  // ST_* flags
#include <sys/vfs.h>
#include <linux/magic.h>  // TMPFS_MAGIC
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../wire.h"
#include "paths.h"
#include "report.h"

namespace {

int g_newroot = -1;  // O_PATH fd of the new root, the root that paths.cc confines lookups to
// Where the host's root is seen while the new root is built: "/oldroot" after the pivot into the
// staging area, "" when a tmpfs root is built in place.
const char *g_host = "/oldroot";
constexpr const char *kBuildInPlace = "/proc/irq";
constexpr const char *kRootTmpfsData = "mode=0755";
// /dev/shm: made with /dev, made again between the runs of a warm sandbox. The plan's /dev entry
// carries its options (a size and inode cap, lib/tmpfs-caps.ts); this is the default without one.
constexpr const char *kShmData = "mode=1777";
constexpr unsigned long kShmFlags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
const char *g_build_at = "/newroot";  // the new root's mount point while it is built
bool g_have_setattr = true;           // mount_setattr(2), Linux 5.12: decides whether binds are recursive

// The new mount API spelled out: older headers lack it. The call numbers are the same on every
// architecture (the generic table): open_tree and move_mount 5.2, mount_setattr 5.12.
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
struct SetAttr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};
constexpr uint64_t kAttrRdonly = 0x1, kAttrNosuid = 0x2, kAttrNodev = 0x4, kAttrNoexec = 0x8;  // MOUNT_ATTR_*
constexpr unsigned kAtRecursive = 0x8000;                                                      // AT_RECURSIVE
constexpr unsigned kOpenTreeClone = 1;                                                         // OPEN_TREE_CLONE
constexpr unsigned kMoveFromEmpty = 0x4, kMoveToEmpty = 0x40;                                  // MOVE_MOUNT_F_EMPTY_PATH, _T_EMPTY_PATH

// Binds are made with open_tree + mount_setattr + move_mount when the kernel has all three (and a
// container's seccomp profile allows them): false after the first ENOSYS or EPERM from open_tree.
bool g_new_api = true;

SetAttr attrs_of(unsigned long ms) {
  SetAttr a = {0, 0, 0, 0};
  if (ms & MS_RDONLY) a.attr_set |= kAttrRdonly;
  if (ms & MS_NOSUID) a.attr_set |= kAttrNosuid;
  if (ms & MS_NODEV) a.attr_set |= kAttrNodev;
  if (ms & MS_NOEXEC) a.attr_set |= kAttrNoexec;
  return a;
}

// Binds `src` (a path, or "" for `src_fd` itself) onto `to_name` in `to_fd` ("" for `to_fd`
// itself): a detached copy is made, given the `ms` flags (MS_RDONLY, MS_NOSUID, MS_NODEV,
// MS_NOEXEC) on every mount in it, and only then attached, so it is never visible writable.
// Three calls where mount(2) needs a bind, a lookup, a statfs and a remount. 0 or -errno;
// -ENOSYS when the new API is missing (the caller falls back to mount(2)).
int bind_copy(int src_fd, const char *src, int to_fd, const char *to_name, unsigned long ms, bool recursive) {
  unsigned flags = kOpenTreeClone | O_CLOEXEC | (recursive ? kAtRecursive : 0) | (src[0] == 0 ? AT_EMPTY_PATH : 0);
  int tree = syscall(SYS_open_tree, src_fd, src, flags);
  if (tree < 0) {
    if (errno != ENOSYS && errno != EPERM) return -errno;
    g_new_api = false;
    return -ENOSYS;
  }
  SetAttr a = attrs_of(ms);
  int r = 0;
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | (recursive ? kAtRecursive : 0), &a, sizeof a) < 0 ||
      syscall(SYS_move_mount, tree, "", to_fd, to_name, kMoveFromEmpty | (to_name[0] == 0 ? kMoveToEmpty : 0)) < 0) {
    r = -errno;
  }
  close(tree);
  return r;
}

struct FdPath {
  char buf[64];
};

// "/oldroot/proc/self/fd/N" (or without /oldroot): the host's proc shows our fds, so mount(2)
// can target an fd.
FdPath fd_path(int fd) {
  FdPath p;
  snprintf(p.buf, sizeof p.buf, "%s/proc/self/fd/%d", g_host, fd);
  return p;
}

// Remounts the mount at `fd` with `add` flags, keeping the flags the kernel locked on it
// (a user namespace may not clear nosuid/nodev/noexec/atime flags it inherited).
int remount(int fd, unsigned long add) {
  FdPath p = fd_path(fd);
  struct statfs sv;  // statfs(2) itself: its f_flags are statvfs's ST_* flags (init's libc.cc has no statvfs)
  if (statfs(p.buf, &sv) < 0) return -errno;
  unsigned long f = MS_REMOUNT | MS_BIND | add;
  if (sv.f_flags & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flags & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flags & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flags & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flags & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flags & ST_RELATIME) f |= MS_RELATIME;
  if (sv.f_flags & ST_RDONLY) f |= MS_RDONLY;
  return mount(nullptr, p.buf, nullptr, f, nullptr) < 0 ? -errno : 0;
}

// remount() for the mount at `fd` and every mount below it. A recursive bind brings the source's
// submounts along with their own flags, and MS_REMOUNT changes only the top one: a "read-only"
// bind of /dev would leave /dev/shm writable, suid and dev. bubblewrap walks mountinfo for this;
// mount_setattr(AT_RECURSIVE) does the whole tree in one call. Without it, binds are not
// recursive (setup_mounts), so there is no submount to miss.
// mount_setattr only adds flags, so the locked ones stay without a statfs first.
int restrict_tree(int fd, unsigned long add) {
  if (!g_have_setattr) return remount(fd, add);
  SetAttr a = attrs_of(add);
  if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | kAtRecursive, &a, sizeof a) < 0) return -errno;
  return 0;
}

// Mounts something on `dst` (inside the new root): the target is made first, then re-opened
// after the mount so that flags apply to the new mount. Returns the new mount's fd.
int mount_at(const char *dst, Create create, const char *src, const char *fstype, unsigned long flags, const char *data, const char *what) {
  int fd = make_path(dst, create);
  if (fd < 0) die("mount", -fd, "create mount point %s for %s", dst, what);
  FdPath p = fd_path(fd);
  if (mount(src, p.buf, fstype, flags, data) < 0) die("mount", errno, "mount %s on %s", what, dst);
  close(fd);
  fd = open_in_root(dst, 0);
  if (fd < 0) die("mount", -fd, "open %s after mounting %s", dst, what);
  return fd;
}

void host_path(char *out, const char *src) {
  if (snprintf(out, PATH_MAX, "%s%s", g_host, src) >= PATH_MAX) die("mount", ENAMETOOLONG, "bind %s", src);
}

// do_bind() with the new mount API: the source is opened first (a detached copy, whose type says
// what mount point to make), the mount point is made in its directory (kept open from the entry
// before, parent_in_root()), and the copy attached by name there. 0 when done (or skipped: an
// optional source that is missing); -ENOSYS when the API is missing.
int bind_detached(const MountSpec &m, const char *src, unsigned long add) {
  int tree = syscall(SYS_open_tree, AT_FDCWD, src, kOpenTreeClone | O_CLOEXEC | kAtRecursive);
  if (tree < 0) {
    if (errno == ENOENT && (m.flags & wire::kOptional)) return 0;
    if (errno == ENOSYS || errno == EPERM) {
      g_new_api = false;
      return -ENOSYS;
    }
    die("mount", errno, "bind %s on %s: the source", m.src, m.dst);
  }
  struct stat st;
  if (fstat(tree, &st) < 0) die("mount", errno, "bind %s on %s: the source", m.src, m.dst);
  bool file = !S_ISDIR(st.st_mode);
  char leaf[NAME_MAX + 1];
  int parent = parent_in_root(m.dst, leaf);
  int made = parent < 0 ? parent : create_entry(parent, leaf, file);
  // A new, empty entry is attached by name in its directory. One that was there already (in a
  // rootfs, maybe a symlink) is looked up in the root like any path, symlinks resolved inside it.
  int to = parent;
  const char *name = leaf;
  int target = -1;
  if (made == 1 || made == -EINVAL) {
    target = make_path(m.dst, file ? kCreateFile : kCreateDir);
    to = target;
    name = "";
    made = target < 0 ? target : 0;
  }
  if (made < 0) die("mount", -made, "create mount point %s for %s", m.dst, m.src);
  SetAttr a = attrs_of(add);
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | kAtRecursive, &a, sizeof a) < 0 ||
      syscall(SYS_move_mount, tree, "", to, name, kMoveFromEmpty | (name[0] == 0 ? kMoveToEmpty : 0)) < 0) {
    die("mount", errno, "bind %s on %s", m.src, m.dst);
  }
  close(tree);
  if (target >= 0) close(target);
  return 0;
}

void do_bind(const MountSpec &m) {
  char src[PATH_MAX];
  host_path(src, m.src);
  unsigned long add = MS_NOSUID | ((m.flags & wire::kDev) ? 0 : MS_NODEV);
  if (m.flags & wire::kReadOnly) add |= MS_RDONLY;
  if (g_new_api && g_have_setattr && bind_detached(m, src, add) == 0) return;
  // mount(2) by path below: a kept directory could end up covered.
  forget_parent();
  struct stat st;
  if (stat(src, &st) < 0) {
    if (errno == ENOENT && (m.flags & wire::kOptional)) return;
    die("mount", errno, "bind %s on %s: the source", m.src, m.dst);
  }
  Create kind = S_ISDIR(st.st_mode) ? kCreateDir : kCreateFile;
  int fd = mount_at(m.dst, kind, src, nullptr, MS_BIND | (g_have_setattr ? MS_REC : 0), nullptr, m.src);
  int r = restrict_tree(fd, add);
  if (r < 0) die("mount", -r, "remount %s on %s %s", m.src, m.dst, (m.flags & wire::kReadOnly) ? "read-only" : "");
  close(fd);
}

void do_tmpfs(const char *dst, const char *data, unsigned long extra) {
  int fd = mount_at(dst, kCreateDir, "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV | extra, data, "tmpfs");
  close(fd);
}

void do_symlink(const char *target, const char *dst) {
  char leaf[NAME_MAX + 1];
  int parent = parent_in_root(dst, leaf);
  if (parent < 0) die("mount", -parent, "create the directory of symlink %s", dst);
  // O_PATH dirfds work with *at() calls; symlinkat does not follow the last component.
  if (symlinkat(target, parent, leaf) < 0 && errno != EEXIST) die("mount", errno, "create symlink %s", dst);
}

// A file made fresh in its directory (on the tmpfs root), O_NOFOLLOW: nothing planted is written through.
void do_file(const MountSpec &m) {
  char leaf[NAME_MAX + 1];
  int parent = parent_in_root(m.dst, leaf);
  if (parent < 0) die("mount", -parent, "create the directory of file %s", m.dst);
  int w = openat(parent, leaf, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (w < 0) die("mount", errno, "write file %s", m.dst);
  size_t len = strlen(m.data);
  if (write(w, m.data, len) != (ssize_t)len) die("mount", errno, "write file %s", m.dst);
  close(w);
}

// proc for the sandbox's pid namespace. Files that reach the host kernel are made read-only
// or hidden, as container runtimes do (runc's maskedPaths/readonlyPaths).
void do_proc(const char *dst) {
  int proc = mount_at(dst, kCreateDir, "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr, "proc");
  char sub[PATH_MAX];
  static const char *const read_only[] = {"sys", "sysrq-trigger", "irq", "bus", "fs"};
  for (const char *name : read_only) {
    snprintf(sub, sizeof sub, "%s/%s", dst, name);
    const unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (g_new_api && g_have_setattr) {
      // Named relative to the proc just mounted: its entries are the kernel's, no lookup from the root.
      int r = bind_copy(proc, name, proc, name, ro, true);
      if (r == 0 || r == -ENOENT) continue;  // ENOENT: not every kernel has every file
      if (r != -ENOSYS) die("mount", -r, "bind %s read-only", sub);
    }
    int s = open_in_root(sub, 0);
    if (s < 0) continue;
    FdPath p = fd_path(s);
    if (mount(p.buf, p.buf, nullptr, MS_BIND | MS_REC, nullptr) < 0) die("mount", errno, "bind %s read-only", sub);
    close(s);
    s = open_in_root(sub, 0);
    int r = s < 0 ? s : remount(s, ro);
    if (r < 0) die("mount", -r, "remount %s read-only", sub);
    close(s);
  }
  static const char *const masked[] = {"kcore", "keys", "timer_list", "sched_debug", "latency_stats"};
  for (const char *name : masked) {
    snprintf(sub, sizeof sub, "%s/%s", dst, name);
    int s = open_in_root(sub, 0);
    if (s < 0) continue;
    FdPath p = fd_path(s);
    char null_dev[PATH_MAX];
    host_path(null_dev, "/dev/null");
    if (mount(null_dev, p.buf, nullptr, MS_BIND, nullptr) < 0) die("mount", errno, "mask %s", sub);
    close(s);
  }
  close(proc);
}

// Binds the host's device node `src` on the existing file `name` in directory `dev`, nosuid and
// noexec. 0 or -errno.
int bind_onto(int dev, const char *src, const char *name) {
  if (g_new_api && g_have_setattr) {
    int r = bind_copy(AT_FDCWD, src, dev, name, MS_NOSUID | MS_NOEXEC, false);
    if (r != -ENOSYS) return r;
  }
  int n = openat(dev, name, O_PATH | O_CLOEXEC | O_NOFOLLOW);
  int r = n >= 0 && mount(src, fd_path(n).buf, nullptr, MS_BIND, nullptr) == 0 ? 0 : -errno;
  if (n >= 0) close(n);
  if (r < 0) return r;
  n = openat(dev, name, O_PATH | O_CLOEXEC | O_NOFOLLOW);  // the bind now
  r = n < 0 ? -errno : remount(n, MS_NOSUID | MS_NOEXEC);
  if (n >= 0) close(n);
  return r;
}

// Binds the host's device node `src` on a new empty file `name` in the fresh /dev tmpfs `dev`.
int bind_node(int dev, const char *src, const char *name) {
  int f = openat(dev, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (f < 0) return -errno;
  close(f);
  return bind_onto(dev, src, name);
}

// The command's terminal is a pty of the host's devpts, which the new root does not show, so
// ttyname(3) (and tty(1)) could not name it. It is bound where programs look for it, as crun
// arranges a container's terminal: at /dev/pts/0 of the sandbox's own devpts instance (ttyname(3)
// searches /dev/pts first, and ssh-like programs expect a /dev/pts/N name) and at /dev/console.
// Init's fd 0 is that pty (spawn.cc); a bind's source must be a path in this mount namespace (the
// fd's own mount is the host's: EINVAL), so it is the host's /dev/pts/N, checked to be the same
// device. Cosmetic: when the pty is not there, neither name is made.
bool terminal_source(char *src) {
  struct stat tty, host;
  if (fstat(0, &tty) < 0 || !S_ISCHR(tty.st_mode)) return false;
  unsigned major_ = major(tty.st_rdev), minor_ = minor(tty.st_rdev);
  if (major_ < 136 || major_ > 143) return false;  // not a Unix98 pty slave
  char name[64];
  snprintf(name, sizeof name, "/dev/pts/%u", (major_ - 136) * 256 + minor_);
  host_path(src, name);
  return stat(src, &host) == 0 && host.st_rdev == tty.st_rdev && host.st_dev == tty.st_dev;
}

// The name /dev/pts/0 exists in a devpts instance only while pty 0 is open (devpts(5)): init
// opens it, first in the fresh instance, binds the terminal on that name and keeps the master
// (close-on-exec: the command never holds it) for as long as the sandbox runs. Ptys the command
// opens are 1 and up. The command reopens its stdio that is the terminal by that name
// (init/run.cc), so that ttyname(3) names /dev/pts/0 inside. 0 or -errno.
int bind_pts0(int pts, const char *src) {
  int m = openat(pts, "ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0) return -errno;
  unsigned n = ~0u;
  int r = ioctl(m, TIOCGPTN, &n) < 0 ? -errno : n != 0 ? -EEXIST : bind_onto(pts, src, "0");
  if (r < 0) close(m);
  return r;
}

const char *shm_data_of(const MountSpec &m) { return m.data != nullptr && m.data[0] != 0 ? m.data : kShmData; }

// A minimal /dev: the harmless character devices bound from the host (a user namespace cannot
// mknod), a private /dev/shm, a private devpts instance and the usual links.
void do_dev(const char *dst, const char *shm_data, bool tty) {
  // Everything below is made in this fresh tmpfs, relative to its fd: no lookup from the root.
  int dev = mount_at(dst, kCreateDir, "tmpfs", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k", "tmpfs");
  static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
  for (const char *node : nodes) {
    char name[64], src[PATH_MAX];
    snprintf(name, sizeof name, "/dev/%s", node);
    host_path(src, name);
    int r = bind_node(dev, src, node);
    if (r < 0) die("mount", -r, "bind %s on %s/%s", name, dst, node);
  }
  char terminal[PATH_MAX];
  bool bind_terminal = tty && terminal_source(terminal);
  if (bind_terminal) {
    int r = bind_node(dev, terminal, "console");
    if (r < 0) die("mount", -r, "bind the terminal %s on %s/console", terminal, dst);
  }
  struct Sub {
    const char *name, *fstype, *data;
    unsigned long flags;
    bool required;
  };
  // A new devpts instance: ptys opened inside are the sandbox's own, none of the host's. Only a
  // tty run needs it; older kernels refuse it in a user namespace.
  const Sub subs[] = {{"shm", "tmpfs", shm_data, kShmFlags, true},
                      {"pts", "devpts", "newinstance,ptmxmode=0666,mode=620", MS_NOSUID | MS_NOEXEC, tty}};
  for (const Sub &m : subs) {
    int d = mkdirat(dev, m.name, 0755) < 0 ? -1 : openat(dev, m.name, O_PATH | O_CLOEXEC | O_NOFOLLOW | O_DIRECTORY);
    if (d < 0) die("mount", errno, "create %s/%s", dst, m.name);
    bool mounted = mount(m.fstype, fd_path(d).buf, m.fstype, m.flags, m.data) == 0;
    if (!mounted && m.required) die("mount", errno, "mount %s on %s/%s", m.fstype, dst, m.name);
    close(d);
    if (mounted && bind_terminal && strcmp(m.name, "pts") == 0) {
      int pts = openat(dev, "pts", O_PATH | O_CLOEXEC | O_NOFOLLOW | O_DIRECTORY);
      int r = pts < 0 ? -errno : bind_pts0(pts, terminal);
      if (r < 0) die("mount", -r, "bind the terminal %s on %s/pts/0", terminal, dst);
      close(pts);
    }
  }
  static const char *const links[][2] = {{"/proc/self/fd", "fd"},
                                         {"/proc/self/fd/0", "stdin"},
                                         {"/proc/self/fd/1", "stdout"},
                                         {"/proc/self/fd/2", "stderr"},
                                         {"pts/ptmx", "ptmx"}};
  for (auto &l : links) {
    if (symlinkat(l[0], dev, l[1]) < 0) die("mount", errno, "create symlink %s/%s", dst, l[1]);
  }
  close(dev);
}

void do_remount_ro(const char *dst) {
  int fd = open_in_root(dst, 0);
  if (fd < 0) die("mount", -fd, "open %s", dst);
  int r = remount(fd, MS_RDONLY);
  if (r < 0) die("mount", -r, "remount %s read-only", dst);
  close(fd);
}

// "lowerdir=" with each of `lowers` (top first, ':'-separated, a ':' in a path escaped as "\\:")
// seen from where the host's root is (g_host). 0 or -ENAMETOOLONG.
int lowerdir_option(char *out, size_t size, const char *lowers) {
  size_t n = (size_t)snprintf(out, size, "lowerdir=%s", g_host);
  for (const char *p = lowers; *p && n + 1 < size; p++) {
    if (p[0] == '\\' && p[1] != 0) {
      out[n++] = *p++;
      if (n + 1 < size) out[n++] = *p;
    } else if (*p == ':') {
      n += (size_t)snprintf(out + n, size - n, ":%s", g_host);
      if (n >= size) return -ENAMETOOLONG;
    } else {
      out[n++] = *p;
    }
  }
  if (n + 1 >= size) return -ENAMETOOLONG;
  out[n] = 0;
  return 0;
}

// An overlay of the plan's lower directories as the new root (an image's layers, or a rootfs
// directory that lacks a mount point). kReadOnly: lowers only, nothing can change (overlayfs needs
// two lowers then). Otherwise the upper and work directories are on a tmpfs of this sandbox
// (`data`: its options, the size cap of a writable root), gone when the sandbox ends: the layers on
// disk never change. Mounted in the sandbox's user namespace, hence userxattr (Linux 5.11): the
// overlay reads user.overlay.* xattrs. MS_NOSUID | MS_NODEV: a setuid file or a device node in a
// layer grants nothing.
void make_overlay_root(const MountSpec &m) {
  // One page: the most mount(2) copies of its options.
  static char data[4096];
  constexpr size_t kTail = 80;  // room for the upper, work and userxattr options
  int r = lowerdir_option(data, sizeof data - kTail, m.src);
  if (r < 0) die("mount", -r, "mount overlay on / (the new root): the lower directories are too long a list");
  if (!(m.flags & wire::kReadOnly)) {
    const char *tmpfs_data = m.data[0] ? m.data : "mode=0755";
    if (mkdir("/overlay", 0755) < 0 || mount("tmpfs", "/overlay", "tmpfs", MS_NOSUID | MS_NODEV, tmpfs_data) < 0 ||
        mkdir("/overlay/upper", 0755) < 0 || mkdir("/overlay/work", 0755) < 0) {
      die("mount", errno, "prepare the upper layer of the new root (tmpfs %s)", tmpfs_data);
    }
  }
  size_t n = strlen(data);
  snprintf(data + n, sizeof data - n, "%s,userxattr", (m.flags & wire::kReadOnly) ? "" : ",upperdir=/overlay/upper,workdir=/overlay/work");
  unsigned long flags = MS_NOSUID | MS_NODEV | ((m.flags & wire::kReadOnly) ? MS_RDONLY : 0);
  if (mount("overlay", g_build_at, "overlay", flags, data) < 0) die("mount", errno, "mount overlay on / (the new root) from %s", m.src);
}

void make_root(const Plan &plan, const MountSpec &m) {
  if (m.op == wire::kRootTmpfs) {
    // Built in place, it is mounted already (setup_mounts).
    if (g_host[0] != 0 && mount("tmpfs", g_build_at, "tmpfs", MS_NOSUID | MS_NODEV, kRootTmpfsData) < 0) {
      die("mount", errno, "mount tmpfs on / (the new root)");
    }
  } else if (m.op == wire::kRootBind) {
    char src[PATH_MAX];
    host_path(src, m.src);
    if (mount(src, "/newroot", nullptr, MS_BIND | (g_have_setattr ? MS_REC : 0), nullptr) < 0) {
      die("mount", errno, "bind rootfs %s", m.src);
    }
  } else {
    make_overlay_root(m);
  }
  (void)plan;
  g_newroot = open(g_build_at, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (g_newroot < 0) die("mount", errno, "open the new root");
  set_lookup_root(g_newroot, g_build_at);
  if (m.op == wire::kRootBind) {
    // A bind keeps the source's flags: a device node or a setuid file in a rootfs directory
    // (an image unpacked as root) must not work inside. The tmpfs and overlay roots have these.
    // Mounts below the rootfs directory on the host come along with the recursive bind; the
    // plan makes "/" read-only only at its end (kRemountRo), after mount points in it were used,
    // and that remount is not recursive (the plan's read-write binds are below it by then). So:
    // the whole tree read-only now, then the top alone writable again until the end (EPERM: it
    // was read-only and locked, and stays so, as it would anyway).
    int r = restrict_tree(g_newroot, MS_NOSUID | MS_NODEV | (g_have_setattr ? MS_RDONLY : 0));
    if (r < 0) die("mount", -r, "remount rootfs %s nosuid,nodev", m.src);
    SetAttr rw = {0, kAttrRdonly, 0, 0};
    if (g_have_setattr && syscall(SYS_mount_setattr, g_newroot, "", AT_EMPTY_PATH, &rw, sizeof rw) < 0 && errno != EPERM) {
      die("mount", errno, "make rootfs %s writable until its mount points are made", m.src);
    }
  }
}

// A tmpfs root can be built in place (see the top) when the host has /proc/irq and no bind
// source lies under it (it would find the new root there, not the host's files).
bool can_build_in_place(const Plan &plan) {
  if (plan.nmounts == 0 || plan.mounts[0].op != wire::kRootTmpfs) return false;
  size_t n = strlen(kBuildInPlace);
  for (uint32_t i = 0; i < plan.nmounts; i++) {
    const char *src = plan.mounts[i].src;
    if (plan.mounts[i].op == wire::kBind && strncmp(src, kBuildInPlace, n) == 0 && (src[n] == '\0' || src[n] == '/')) return false;
  }
  struct stat st;
  return stat(kBuildInPlace, &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

void setup_mounts(const Plan &plan) {
  // A new mount namespace made in a new user namespace already demotes shared mounts to slave
  // (mount_namespaces(7)); saying so explicitly keeps that true on every kernel.
  if (mount(nullptr, "/", nullptr, MS_SLAVE | MS_REC, nullptr) < 0) die("mount", errno, "make / a slave mount");
  // ENOSYS before 5.12, EPERM from a container's seccomp profile; EINVAL (no attributes): it is there.
  if (syscall(SYS_mount_setattr, -1, "", 0, nullptr, 0) < 0 && (errno == ENOSYS || errno == EPERM)) g_have_setattr = false;
  // In place when the root tmpfs can be mounted there (a container may have made /proc/irq a
  // locked read-only mount that refuses it): otherwise the staging area, as for a rootfs directory.
  bool in_place = can_build_in_place(plan) && mount("tmpfs", kBuildInPlace, "tmpfs", MS_NOSUID | MS_NODEV, kRootTmpfsData) == 0;
  if (in_place) {
    g_host = "";
    g_build_at = kBuildInPlace;
  } else {
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
      die("mount", errno, "mount tmpfs on /tmp (the staging area)");
    if (chdir("/tmp") < 0 || mkdir("newroot", 0755) < 0 || mkdir("oldroot", 0755) < 0) die("mount", errno, "prepare the staging area");
    if (syscall(SYS_pivot_root, "/tmp", "/tmp/oldroot") < 0) die("pivot_root", errno, "pivot_root to the staging area");
    if (chdir("/") < 0) die("mount", errno, "chdir /");
  }

  for (uint32_t i = 0; i < plan.nmounts; i++) {
    const MountSpec &m = plan.mounts[i];
    // Entries go into the kept directory (paths.cc) only between mounts that cannot cover it.
    if (m.op != wire::kBind && m.op != wire::kFile && m.op != wire::kSymlink) forget_parent();
    if (i == 0 && m.op != wire::kRootBind && m.op != wire::kRootTmpfs && m.op != wire::kRootOverlay) {
      die("mount", EINVAL, "build the new root: the plan does not start with one");
    }
    switch (m.op) {
      case wire::kRootBind:
      case wire::kRootTmpfs:
      case wire::kRootOverlay:
        if (i != 0) die("mount", EINVAL, "build the new root twice");
        make_root(plan, m);
        break;
      case wire::kBind: do_bind(m); break;
      case wire::kTmpfs: do_tmpfs(m.dst, m.data, 0); break;
      case wire::kProc: do_proc(m.dst); break;
      case wire::kDevfs: do_dev(m.dst, shm_data_of(m), plan.tty); break;
      case wire::kSymlink: do_symlink(m.src, m.dst); break;
      case wire::kDir: {
        int fd = make_path(m.dst, kCreateDir);
        if (fd < 0) die("mount", -fd, "create directory %s", m.dst);
        close(fd);
        break;
      }
      case wire::kRemountRo: do_remount_ro(m.dst); break;
      case wire::kFile: do_file(m); break;
    }
  }
  if (g_newroot < 0) die("mount", EINVAL, "build the new root: the plan has no mounts");
  // /dev read-only once the plan's binds into it are made: the command (the same uid as init,
  // who owns that tmpfs) cannot leave files there, for itself later or for the next run of a
  // warm sandbox. /dev/shm and /dev/pts are mounts of their own and stay writable.
  for (uint32_t i = 0; i < plan.nmounts; i++) {
    if (plan.mounts[i].op == wire::kDevfs) do_remount_ro(plan.mounts[i].dst);
  }
  forget_parent();
  close(g_newroot);

  // The host's root goes rprivate first, or its unmount could propagate to the host.
  if (mount(nullptr, in_place ? "/" : "/oldroot", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
    die("mount", errno, "make the host's root private");
  // pivot_root(".", ".") stacks the old root (the staging tmpfs with the host's root below it at
  // /oldroot, or the host's root itself) on the new one; one lazy unmount of "." then detaches it
  // all (pivot_root(2), "new_root and put_old may be the same directory"): one unmount, one RCU
  // grace period.
  int old = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (old < 0 || chdir(g_build_at) < 0) die("pivot_root", errno, "enter the new root");
  if (syscall(SYS_pivot_root, ".", ".") < 0) die("pivot_root", errno, "pivot_root into the new root");
  if (fchdir(old) < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
    die("pivot_root", errno, "detach the staging area and the host's root");
  close(old);
}

static bool is_below(const char *path, const char *dir) {
  size_t n = strlen(dir);
  return strncmp(path, dir, n) == 0 && path[n] == '/';
}

void reset_writable_mounts(const Plan &plan) {
  int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) die("reset", errno, "open /");
  set_lookup_root(root, "/");
  for (uint32_t i = 0; i < plan.nmounts; i++) {
    const MountSpec &m = plan.mounts[i];
    char shm[PATH_MAX];
    const char *dst = m.dst;
    if (m.op == wire::kDevfs) {
      snprintf(shm, sizeof shm, "%s/shm", m.dst);
      dst = shm;
    } else if (m.op != wire::kTmpfs) {
      continue;
    }
    // Lazily: a file still open would hold it, but everything a run started has been reaped.
    if (umount2(dst, MNT_DETACH | UMOUNT_NOFOLLOW) < 0) die("reset", errno, "unmount %s", dst);
    if (m.op == wire::kDevfs) {
      close(mount_at(dst, kCreateDir, "tmpfs", "tmpfs", kShmFlags, shm_data_of(m), "tmpfs"));
      continue;
    }
    do_tmpfs(m.dst, m.data, 0);
    // The directories the plan made in it (the working directory).
    for (uint32_t j = i + 1; j < plan.nmounts; j++) {
      if (plan.mounts[j].op != wire::kDir || !is_below(plan.mounts[j].dst, m.dst)) continue;
      int fd = make_path(plan.mounts[j].dst, kCreateDir);
      if (fd < 0) die("reset", -fd, "create directory %s", plan.mounts[j].dst);
      close(fd);
    }
  }
  forget_parent();
  close(root);
}

// Bytes in use on one mounted tmpfs, 0 when it cannot be read.
static uint64_t used_bytes(const char *path) {
  struct statfs st;
  if (statfs(path, &st) < 0 || st.f_type != TMPFS_MAGIC) return 0;
  return (uint64_t)(st.f_blocks - st.f_bfree) * (uint64_t)st.f_bsize;
}

uint64_t tmpfs_used_bytes(const Plan &plan) {
  uint64_t total = 0;
  for (uint32_t i = 0; i < plan.nmounts; i++) {
    const MountSpec &m = plan.mounts[i];
    if (m.op == wire::kTmpfs) {
      total += used_bytes(m.dst);
    } else if (m.op == wire::kDevfs) {
      char shm[PATH_MAX];
      snprintf(shm, sizeof shm, "%s/shm", m.dst);
      total += used_bytes(shm);
    }
  }
  return total;
}
