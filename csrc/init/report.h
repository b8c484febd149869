// Reports from init to the parent over the CLOEXEC report pipe (wire::Report records).
#pragma once
#include <stdint.h>
#include <sys/resource.h>

// Monotonic clock in ns, the same clock the parent reads.
uint64_t now_ns();

// Writes an error record: `stage` is a short step name, `detail` names the object, e.g.
// "mount proc on /proc". `fd` is the pipe to write to.
void report_error(int fd, const char *stage, int err, const char *detail_fmt, ...) __attribute__((format(printf, 4, 5)));

void report_event(int fd, uint32_t kind, int64_t value, uint64_t t_ns);

// CPU time and peak memory of a tree of processes (from getrusage or summed over wait4).
struct TreeUsage {
  int64_t user_us = 0;
  int64_t sys_us = 0;
  int64_t maxrss_kb = 0;
};
TreeUsage usage_of(const struct rusage &ru);
// Adds what one reaped process (and what it reaped) used: times add up, the peak is the larger.
void add_usage(TreeUsage *total, const struct rusage &ru);

// The command's execve: its pid and its time (init sits outside its runs' cgroups: no setup CPU of
// its own counts against a run).
void report_started(int fd, int pid, uint64_t t_ns);

// The command's end: wait status, time, what the whole tree used, whether a network namespace
// lent to the sandbox is empty (netns_empty()), and the bytes left in its tmpfs mounts.
void report_exit(int fd, int status, uint64_t t_ns, bool netns_empty, const TreeUsage &tree, uint64_t tmpfs_bytes);

// Reports and ends init with status 1: setup cannot continue.
[[noreturn]] void die(const char *stage, int err, const char *detail_fmt, ...) __attribute__((format(printf, 3, 4)));
