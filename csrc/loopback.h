// Bringing "lo" up in a new network namespace, which starts with it down. Shared by the addon's
// namespace pool (csrc/netns.cc) and sandbox-init (csrc/init/setup.cc): one source, two binaries.
#pragma once

// SIOCSIFFLAGS IFF_UP | IFF_RUNNING on "lo" of the calling thread's network namespace. 0 or -errno.
int loopback_up();
