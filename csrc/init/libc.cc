// The C library of sandbox-init: the ~60 functions init calls, as raw system calls and a few
// string routines, and the program's entry point. init is linked with -nostdlib against this file
// alone (binding.gyp, .ci/arm64-cross.sh).
//
// Why not glibc: a static glibc program spends a fraction of a millisecond starting on a virtual
// machine before main (an empty one takes about four times as long to fork, exec and wait for as
// without glibc), because its start-up probes the CPU's features and cache sizes with ~40 `cpuid` instructions,
// each a trap to the hypervisor. init starts once per sandbox, on the critical path of every run.
//
// Scope: init is single-threaded and never returns memory, so errno is one global, malloc is mmap,
// and free is absent. Signals are only reset to SIG_DFL/SIG_IGN and taken with sigwaitinfo: no
// handler ever runs (x86_64 would need an sa_restorer trampoline: sigaction refuses handlers).
// Formats: %s %d %u %x with l/z modifiers, %c and %% (all init's messages use). This file includes
// no libc header that declares these functions: glibc's headers redirect some names (open → open64
// under _FILE_OFFSET_BITS=64), so each is defined under both names and takes the kernel's layouts.
#include <linux/fcntl.h>
#include <linux/time_types.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>

namespace {

int g_errno;

// One system call; the kernel returns -errno in [-4095, -1].
long raw(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
#if defined(__x86_64__)
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
  return ret;
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  register long x5 __asm__("x5") = f;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory", "cc");
  return x0;
#else
#error "sandbox-init's libc: x86_64 and aarch64 only"
#endif
}

// The libc convention: -1 with errno set.
long ret(long r) {
  if (r < 0 && r > -4096) {
    g_errno = (int)-r;
    return -1;
  }
  return r;
}

long sys(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) { return ret(raw(n, a, b, c, d, e, f)); }

constexpr long kAtFdcwd = -100;
constexpr long kAtEmptyPath = 0x1000;
constexpr long kSigsetBytes = 8;  // the kernel's sigset_t: 64 signals
constexpr long kSigDfl = 0;
constexpr long kSigIgn = 1;
constexpr long kSigChld = 17;
constexpr int kTcgets = 0x5401;  // the same on x86_64 and aarch64

}  // namespace

#define ALIAS(name, target) __attribute__((alias(#target))) decltype(target) name

extern "C" {

extern void (*__init_array_start[])(int, char **, char **) __attribute__((weak));
extern void (*__init_array_end[])(int, char **, char **) __attribute__((weak));
// init's own main (main.cc): called by its symbol, C++ forbids calling main by name.
int init_main(int, char **, char **) __asm__("main");
[[noreturn]] void _exit(int code);

int *__errno_location() { return &g_errno; }

// ---- start and end

// Called by _start with the initial stack: argc, argv..., NULL, envp..., NULL, auxv.
[[noreturn]] __attribute__((used)) void sandbox_init_start(long *sp) {
  int argc = (int)sp[0];
  char **argv = (char **)(sp + 1);
  char **envp = argv + argc + 1;
  if (__init_array_start != nullptr) {
    for (auto f = __init_array_start; f < __init_array_end; f++) (*f)(argc, argv, envp);
  }
  _exit(init_main(argc, argv, envp));
}

[[noreturn]] void _exit(int code) {
  for (;;) raw(SYS_exit_group, code);
}

// ---- memory and strings (-fno-tree-loop-distribute-patterns: gcc must not turn these loops
// into calls to themselves)

void *memcpy(void *dst, const void *src, size_t n) {
  auto d = (unsigned char *)dst;
  auto s = (const unsigned char *)src;
  while (n--) *d++ = *s++;
  return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
  auto d = (unsigned char *)dst;
  auto s = (const unsigned char *)src;
  if (d < s) {
    while (n--) *d++ = *s++;
  } else {
    while (n--) d[n] = s[n];
  }
  return dst;
}

void *memset(void *dst, int c, size_t n) {
  auto d = (unsigned char *)dst;
  while (n--) *d++ = (unsigned char)c;
  return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
  auto x = (const unsigned char *)a;
  auto y = (const unsigned char *)b;
  for (; n; n--, x++, y++)
    if (*x != *y) return *x - *y;
  return 0;
}

void *memchr(const void *p, int c, size_t n) {
  for (auto s = (const unsigned char *)p; n; n--, s++)
    if (*s == (unsigned char)c) return (void *)s;
  return nullptr;
}

size_t strlen(const char *s) {
  const char *e = s;
  while (*e) e++;
  return (size_t)(e - s);
}

int strcmp(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n) {
  for (; n; n--, a++, b++) {
    if (*a != *b) return (unsigned char)*a - (unsigned char)*b;
    if (!*a) return 0;
  }
  return 0;
}

char *strchrnul(const char *s, int c) {
  while (*s && *s != (char)c) s++;
  return (char *)s;
}

char *strchr(const char *s, int c) {
  char *p = strchrnul(s, c);
  return *p == (char)c ? p : nullptr;
}

char *strrchr(const char *s, int c) {
  const char *last = nullptr;
  do
    if (*s == (char)c) last = s;
  while (*s++);
  return (char *)last;
}

char *strstr(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++)
    if (strncmp(hay, needle, n) == 0) return (char *)hay;
  return n == 0 ? (char *)hay : nullptr;
}

long strtol(const char *s, char **end, int base) {
  while (*s == ' ' || *s == '\t' || *s == '\n') s++;
  bool neg = *s == '-';
  if (*s == '-' || *s == '+') s++;
  if ((base == 0 || base == 16) && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s += 2, base = 16;
  if (base == 0) base = 10;
  long v = 0;
  for (;; s++) {
    int d = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'z' ? *s - 'a' + 10 : *s >= 'A' && *s <= 'Z' ? *s - 'A' + 10 : 99;
    if (d >= base) break;
    v = v * base + d;
  }
  if (end) *end = (char *)s;
  return neg ? -v : v;
}

// Never freed (init's plan lives as long as init): each block is its own zeroed mapping.
void *calloc(size_t n, size_t size) {
  size_t bytes = n * size;
  if (size != 0 && bytes / size != n) {
    g_errno = 12;  // ENOMEM
    return nullptr;
  }
  long p = sys(SYS_mmap, 0, (long)(bytes ? bytes : 1), 3 /* PROT_READ|WRITE */, 0x22 /* MAP_PRIVATE|ANONYMOUS */, -1, 0);
  return p < 0 ? nullptr : (void *)p;
}

void *malloc(size_t size) { return calloc(1, size); }

// ---- formatted output: %s %d %u %x %c %%, l and z modifiers

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
  size_t len = 0;
  auto put = [&](char c) {
    if (len + 1 < size) buf[len] = c;
    len++;
  };
  for (const char *f = fmt; *f; f++) {
    if (*f != '%') {
      put(*f);
      continue;
    }
    f++;
    bool is_long = false;
    while (*f == 'l' || *f == 'z') is_long = true, f++;
    switch (*f) {
      case 's': {
        const char *s = va_arg(ap, const char *);
        for (s = s ? s : "(null)"; *s; s++) put(*s);
        break;
      }
      case 'c': put((char)va_arg(ap, int)); break;
      case 'd':
      case 'u':
      case 'x': {
        unsigned long v;
        bool neg = false;
        if (*f == 'd') {
          long sv = is_long ? va_arg(ap, long) : va_arg(ap, int);
          neg = sv < 0;
          v = neg ? 0UL - (unsigned long)sv : (unsigned long)sv;
        } else {
          v = is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
        }
        unsigned base = *f == 'x' ? 16 : 10;
        char digits[24];
        int n = 0;
        do digits[n++] = "0123456789abcdef"[v % base];
        while ((v /= base) != 0);
        if (neg) put('-');
        while (n) put(digits[--n]);
        break;
      }
      case '%': put('%'); break;
      default:  // not used by init: shown as is
        put('%');
        if (*f) put(*f);
        if (!*f) f--;
    }
  }
  if (size) buf[len < size ? len : size - 1] = '\0';
  return (int)len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

// ---- system calls

long syscall(long n, ...) {
  va_list ap;
  va_start(ap, n);
  long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
  long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
  va_end(ap);
  return sys(n, a, b, c, d, e, f);
}

long read(int fd, void *buf, size_t n) { return sys(SYS_read, fd, (long)buf, (long)n); }
long write(int fd, const void *buf, size_t n) { return sys(SYS_write, fd, (long)buf, (long)n); }
long pread64(int fd, void *buf, size_t n, long off) { return sys(SYS_pread64, fd, (long)buf, (long)n, off); }
ALIAS(pread, pread64);
int close(int fd) { return (int)sys(SYS_close, fd); }

// The mode is read only when the flags say there is one (as the caller passed it then).
int openat64(int dir, const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  long mode = flags & (O_CREAT | __O_TMPFILE) ? va_arg(ap, int) : 0;
  va_end(ap);
  return (int)sys(SYS_openat, dir, (long)path, flags, mode);
}
ALIAS(openat, openat64);

int open64(const char *path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  long mode = flags & (O_CREAT | __O_TMPFILE) ? va_arg(ap, int) : 0;
  va_end(ap);
  return openat64((int)kAtFdcwd, path, flags, mode);
}
ALIAS(open, open64);

int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  long arg = va_arg(ap, long);
  va_end(ap);
  return (int)sys(SYS_fcntl, fd, cmd, arg);
}
ALIAS(fcntl, fcntl64);

int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  long arg = va_arg(ap, long);
  va_end(ap);
  return (int)sys(SYS_ioctl, fd, (long)req, arg);
}

int isatty(int fd) {
  char termios[64];  // larger than the kernel's struct termios on both architectures
  return raw(SYS_ioctl, fd, kTcgets, (long)termios) == 0;
}

int pipe2(int fds[2], int flags) { return (int)sys(SYS_pipe2, (long)fds, flags); }
// dup3: arm64 has no dup2 system call. No flags: the copy is not close-on-exec.
int dup3(int from, int to, int flags) { return (int)sys(SYS_dup3, from, to, flags); }

// glibc's struct stat64 and struct statfs64 are the kernel's layouts on x86_64 and aarch64.
int fstat64(int fd, void *st) { return (int)sys(SYS_newfstatat, fd, (long)"", (long)st, kAtEmptyPath); }
ALIAS(fstat, fstat64);
int stat64(const char *path, void *st) { return (int)sys(SYS_newfstatat, kAtFdcwd, (long)path, (long)st, 0); }
ALIAS(stat, stat64);
int statfs64(const char *path, void *st) { return (int)sys(SYS_statfs, (long)path, (long)st); }
ALIAS(statfs, statfs64);

int mkdirat(int dir, const char *path, unsigned mode) { return (int)sys(SYS_mkdirat, dir, (long)path, mode); }
int mkdir(const char *path, unsigned mode) { return mkdirat((int)kAtFdcwd, path, mode); }
int symlinkat(const char *target, int dir, const char *path) { return (int)sys(SYS_symlinkat, (long)target, dir, (long)path); }
int chdir(const char *path) { return (int)sys(SYS_chdir, (long)path); }
int fchdir(int fd) { return (int)sys(SYS_fchdir, fd); }

int mount(const char *src, const char *dst, const char *type, unsigned long flags, const void *data) {
  return (int)sys(SYS_mount, (long)src, (long)dst, (long)type, (long)flags, (long)data);
}
int umount2(const char *target, int flags) { return (int)sys(SYS_umount2, (long)target, flags); }
int unshare(int flags) { return (int)sys(SYS_unshare, flags); }
int sethostname(const char *name, size_t len) { return (int)sys(SYS_sethostname, (long)name, (long)len); }
int socket(int domain, int type, int proto) { return (int)sys(SYS_socket, domain, type, proto); }

int prctl(int option, ...) {
  va_list ap;
  va_start(ap, option);
  long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long), d = va_arg(ap, long);
  va_end(ap);
  return (int)sys(SYS_prctl, option, a, b, c, d);
}

int setresuid(unsigned r, unsigned e, unsigned s) { return (int)sys(SYS_setresuid, r, e, s); }
int setresgid(unsigned r, unsigned e, unsigned s) { return (int)sys(SYS_setresgid, r, e, s); }
int setgroups(size_t n, const unsigned *groups) { return (int)sys(SYS_setgroups, (long)n, (long)groups); }
int setsid() { return (int)sys(SYS_setsid); }
int kill(int pid, int sig) { return (int)sys(SYS_kill, pid, sig); }
int setrlimit64(int resource, const void *rlim) { return (int)sys(SYS_prlimit64, 0, resource, (long)rlim, 0); }
ALIAS(setrlimit, setrlimit64);
int getrusage(int who, void *usage) { return (int)sys(SYS_getrusage, who, (long)usage); }

int clock_gettime(int clock, struct __kernel_timespec *ts) { return (int)sys(SYS_clock_gettime, clock, (long)ts); }

int poll(void *fds, unsigned long n, int timeout_ms) {
  struct __kernel_timespec ts = {timeout_ms / 1000, (long long)(timeout_ms % 1000) * 1000000};
  return (int)sys(SYS_ppoll, (long)fds, (long)n, timeout_ms < 0 ? 0 : (long)&ts, 0, kSigsetBytes);
}

int fork() { return (int)sys(SYS_clone, kSigChld, 0, 0, 0, 0); }

int waitpid(int pid, int *status, int options) { return (int)sys(SYS_wait4, pid, (long)status, options, 0); }

int execve(const char *path, char *const argv[], char *const envp[]) { return (int)sys(SYS_execve, (long)path, (long)argv, (long)envp); }

// ---- signals: glibc's sigset_t is 1024 bits, the kernel reads the first 64.

int sigemptyset(uint64_t *set) {
  memset(set, 0, 128);
  return 0;
}

int sigfillset(uint64_t *set) {
  memset(set, 0xff, 128);
  return 0;
}

int sigprocmask(int how, const uint64_t *set, uint64_t *old) {
  return (int)sys(SYS_rt_sigprocmask, how, (long)set, (long)old, kSigsetBytes);
}

int sigwaitinfo(const uint64_t *set, void *info) { return (int)sys(SYS_rt_sigtimedwait, (long)set, (long)info, 0, kSigsetBytes); }

// glibc's struct sigaction: handler, a 1024-bit mask, flags, restorer (x86_64 and aarch64).
struct LibcSigaction {
  long handler;
  uint64_t mask[16];
  int flags;
  long restorer;
};

int sigaction(int sig, const LibcSigaction *act, LibcSigaction *old) {
  if (old != nullptr) {
    g_errno = 38;  // ENOSYS: init never asks
    return -1;
  }
  if (act->handler != kSigDfl && act->handler != kSigIgn) {
    g_errno = 22;  // EINVAL: no handler ever runs in init (see the top of this file)
    return -1;
  }
  struct {
    long handler;
    unsigned long flags;
    long restorer;
    uint64_t mask;
  } k = {act->handler, (unsigned long)(unsigned)act->flags, 0, act->mask[0]};
  return (int)sys(SYS_rt_sigaction, sig, (long)&k, 0, kSigsetBytes);
}

}  // extern "C"

// The entry point: the initial stack pointer to sandbox_init_start, the stack 16-byte aligned.
#if defined(__x86_64__)
__asm__(
    ".text\n.global _start\n.type _start,@function\n_start:\n"
    "  xor %rbp, %rbp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call sandbox_init_start\n  hlt\n");
#elif defined(__aarch64__)
__asm__(
    ".text\n.global _start\n.type _start,%function\n_start:\n"
    "  mov x29, #0\n  mov x30, #0\n  mov x0, sp\n  and x1, x0, #-16\n  mov sp, x1\n  bl sandbox_init_start\n  brk #0\n");
#endif
