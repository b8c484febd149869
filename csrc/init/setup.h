// The steps of init before the command: id maps, namespaces, hostname, loopback.
#pragma once
#include "plan.h"

// Writes setgroups "deny", uid_map and gid_map for init itself (the single-id rootless case).
void write_own_id_maps(const Plan &plan);

// Unshares the namespaces init makes itself (mount always; net, ipc, uts, cgroup as asked),
// sets the hostname and brings loopback up in a new network namespace.
void enter_namespaces(const Plan &plan);
