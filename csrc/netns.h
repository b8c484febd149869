// Network namespaces made ahead of time and lent to one sandbox at a time (lib/netns-pool.ts).
// A new network namespace costs about a millisecond under a global lock and is torn down by a
// kernel worker later; made off the event loop and reused, both costs leave the launch path.
#pragma once

// Makes an empty network namespace with loopback up and returns an fd for it (CLOEXEC), or
// -errno. Runs on a short-lived thread of its own, so no other thread ever changes namespace.
// Blocks for about a millisecond: call it off the event loop.
int netns_create();

// Opens the calling thread's own network namespace once, so that netns_leave() can come back
// to it: called when the addon loads on a thread. 0 or -errno.
int netns_remember_home();

// The launching thread's side of the loan: enter `fd` so that the next clone inherits it, and
// come back. netns_leave() aborts when it cannot come back: a Node thread left in a sandbox's
// network namespace would be far worse than a crash. 0 or -errno.
int netns_enter(int fd);
void netns_leave();
