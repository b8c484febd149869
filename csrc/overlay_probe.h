// Whether this kernel (and its LSM) lets an unprivileged user namespace mount overlayfs over the
// given directories, as a sandbox's init does for an image's layers.
#pragma once

// `lowers`: two or more directories, top first, ':'-separated. 0 when the mount succeeds, else
// the errno it failed with (a failure to make the probe's namespaces included).
int probe_overlay(const char *lowers);
