// Paths inside the sandbox's new root while it is being built (mounts.cc): every lookup is
// confined to the root, so a symlink planted in a rootfs or a writable bind cannot redirect a
// mount point outside it.
#pragma once

// Sets the root that lookups are confined to (an O_PATH fd of /newroot; the module keeps it).
void set_lookup_root(int root_fd);

// Opens `path` (absolute, inside the new root) as O_PATH | `flags`. Returns an fd or -errno.
int open_in_root(const char *path, int flags);

enum Create { kNoCreate, kCreateDir, kCreateFile };

// Opens `path` inside the new root, creating what is missing: directories on the way, and the
// last component as a directory or an empty file. Returns an O_PATH fd or -errno.
int make_path(const char *path, Create last);
