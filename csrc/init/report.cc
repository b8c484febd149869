#include "report.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../wire.h"

uint64_t now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void write_full(int fd, const void *buf, size_t len) {
  while (write(fd, buf, len) < 0 && errno == EINTR) {
  }
}

static void vreport(int fd, const char *stage, int err, const char *fmt, va_list ap) {
  wire::Report r;
  memset(&r, 0, sizeof r);
  r.kind = wire::kReportError;
  r.err = err;
  r.t_ns = now_ns();
  snprintf(r.stage, sizeof r.stage, "%s", stage);
  vsnprintf(r.detail, sizeof r.detail, fmt, ap);
  write_full(fd, &r, sizeof r);
}

void report_error(int fd, const char *stage, int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(fd, stage, err, fmt, ap);
  va_end(ap);
}

void report_event(int fd, uint32_t kind, int64_t value, uint64_t t_ns) {
  wire::Report r;
  memset(&r, 0, sizeof r);
  r.kind = kind;
  r.value = value;
  r.t_ns = t_ns;
  write_full(fd, &r, sizeof r);
}

void die(const char *stage, int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(wire::kReportFd, stage, err, fmt, ap);
  va_end(ap);
  _exit(1);
}

static int64_t timeval_us(const struct timeval &tv) { return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec; }

TreeUsage usage_of(const struct rusage &ru) {
  TreeUsage u;
  u.user_us = timeval_us(ru.ru_utime);
  u.sys_us = timeval_us(ru.ru_stime);
  u.maxrss_kb = ru.ru_maxrss;
  return u;
}

void add_usage(TreeUsage *total, const struct rusage &ru) {
  TreeUsage u = usage_of(ru);
  total->user_us += u.user_us;
  total->sys_us += u.sys_us;
  if (u.maxrss_kb > total->maxrss_kb) total->maxrss_kb = u.maxrss_kb;
}

void report_started(int fd, int pid, uint64_t t_ns) {
  wire::Report r;
  memset(&r, 0, sizeof r);
  r.kind = wire::kReportStarted;
  r.value = pid;
  r.t_ns = t_ns;
  write_full(fd, &r, sizeof r);
}

void report_exit(int fd, int status, uint64_t t_ns, bool netns_empty, const TreeUsage &tree, uint64_t tmpfs_bytes) {
  wire::Report r;
  memset(&r, 0, sizeof r);
  r.kind = wire::kReportExited;
  r.value = status;
  r.t_ns = t_ns;
  r.netns_empty = netns_empty;
  r.user_us = tree.user_us;
  r.sys_us = tree.sys_us;
  r.maxrss_kb = tree.maxrss_kb;
  uint64_t kb = (tmpfs_bytes + 1023) / 1024;
  r.tmpfs_kb = kb > UINT32_MAX ? UINT32_MAX : (uint32_t)kb;
  write_full(fd, &r, sizeof r);
}
