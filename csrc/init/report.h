// Reports from init to the parent over the CLOEXEC report pipe (wire::Report records).
#pragma once
#include <stdint.h>

// Monotonic clock in ns, the same clock the parent reads.
uint64_t now_ns();

// Writes an error record: `stage` is a short step name, `detail` names the object, e.g.
// "mount proc on /proc". `fd` is the pipe to write to.
void report_error(int fd, const char *stage, int err, const char *detail_fmt, ...)
    __attribute__((format(printf, 4, 5)));

void report_event(int fd, uint32_t kind, int64_t value, uint64_t t_ns);

// The command's execve: its pid, time, and init's own CPU so far (charged to the sandbox's
// cgroup, so the parent subtracts it from the cgroup's figure).
void report_started(int fd, int pid, uint64_t t_ns);

// The command's end: wait status, time, rusage of all init reaped, and whether a network
// namespace lent to the sandbox is empty (netns_empty()).
void report_exit(int fd, int status, uint64_t t_ns, bool netns_empty);

// Reports and ends init with status 1: setup cannot continue.
[[noreturn]] void die(const char *stage, int err, const char *detail_fmt, ...)
    __attribute__((format(printf, 3, 4)));
