// The steps of init before the command: id maps, namespaces, hostname, loopback.
#pragma once
#include "plan.h"

// Writes setgroups "deny", uid_map and gid_map for init itself (the single-id rootless case).
void write_own_id_maps(const Plan &plan);

// Unshares the namespaces init makes itself (mount always; net, ipc, uts, cgroup as asked),
// sets the hostname and brings loopback up in a new network namespace.
void enter_namespaces(const Plan &plan);

// Whether the network namespace init is in holds nothing: no socket of any family, no TIME_WAIT
// entry, no IP fragment queue (the namespace's own counts in /proc/self/net/sockstat and
// sockstat6). Read after everything else in the sandbox has ended, for a namespace lent from the
// pool: it is lent again only when this is true. Rather false than wrong.
bool netns_empty();
