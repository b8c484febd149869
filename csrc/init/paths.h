// Paths inside the sandbox's new root while it is being built (mounts.cc): every lookup is
// confined to the root, so a symlink planted in a rootfs or a writable bind cannot redirect a
// mount point outside it.
#pragma once

// Sets the root that lookups are confined to: an O_PATH fd of the new root (the module keeps it)
// and its path, used without openat2 (Linux < 5.6; `path` must outlive the module's use).
void set_lookup_root(int root_fd, const char *path);

// Opens `path` (absolute, inside the new root) as O_PATH | `flags`. Returns an fd or -errno.
int open_in_root(const char *path, int flags);

enum Create { kNoCreate, kCreateDir, kCreateFile };

// Opens `path` inside the new root, creating what is missing: directories on the way, and the
// last component as a directory or an empty file. Returns an O_PATH fd or -errno.
int make_path(const char *path, Create last);

// Makes `name` in the directory `parent`: a directory, or an empty file. 0 when made, 1 when
// something was there already, or -errno.
int create_entry(int parent, const char *name, bool file);

// The directory that holds `path`'s last component (made when missing, as make_path does), and
// that component in `leaf` (NAME_MAX + 1 bytes). The default root puts a dozen entries in /etc one
// after another, so the directory is kept open and reused while the next entry goes in the same
// one: the fd belongs to this module, valid until the next call or forget_parent(). -errno;
// -EINVAL when the last component is "." (use make_path()).
int parent_in_root(const char *path, char *leaf);

// Drops the kept directory: a mount may cover it or a directory above it.
void forget_parent();
