// The `sandbox` command's first stage (docs/cli-server.md): hands `sandbox exec|run ARGS...` to
// this user's resident server over a unix socket, or runs the Node CLI (sandbox-cli.cjs, next to
// this binary) when there is none. It knows no flags: argv, the environment, the working directory
// (an fd) and fds 0-2 go to the server as they are, and every choice is the server's.
//
// Wire (all integers little-endian u32 unless said):
//   request   "SBX1" LEN ARGC ENVC ID\0 ARGV[0]\0 ... ENV[0]\0 ...   (LEN: the bytes after it)
//             with SCM_RIGHTS [cwd (O_PATH), 0, 1, 2] on its first byte (unix(7))
//   then      's' SIGNO (one byte each) for every forwarded signal
//   reply     'x' STATUS (i32): exit with STATUS  |  'f': run the Node CLI here instead
// EOF before a reply: the server died, and the run with it (its init has PR_SET_PDEATHSIG).
//
// SANDBOX_SERVER: off (always the Node CLI), auto (the default: a running server, else the Node
// CLI, and a server is started in the background for the next runs), required (no server: 125).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

enum mode { MODE_OFF, MODE_AUTO, MODE_REQUIRED };

// The exit status of a run the sandbox could not set up (docs/cli.md).
#define SETUP_FAILED 125
// An auto-started server ends after this long without a request.
#define IDLE_TIMEOUT "900"

static char cli_dir[PATH_MAX];
static int server_fd = -1;
static struct termios saved_termios;
static int termios_saved;

static void fail(const char *fmt, const char *arg, int err) {
  char text[PATH_MAX + 256];
  snprintf(text, sizeof text, fmt, arg);
  if (err != 0) fprintf(stderr, "sandbox: %s: %s\n", text, strerror(err));
  else fprintf(stderr, "sandbox: %s\n", text);
  exit(SETUP_FAILED);
}

static void path_join(char *out, size_t n, const char *dir, const char *name) {
  if ((size_t)snprintf(out, n, "%s/%s", dir, name) >= n) fail("path too long: %s", dir, 0);
}

// The Node CLI, as the bin ran it before the client existed: same output, same exit statuses.
static void run_node(int argc, char **argv) {
  char cli[PATH_MAX];
  path_join(cli, sizeof cli, cli_dir, "sandbox-cli.cjs");
  char **args = calloc((size_t)argc + 2, sizeof *args);
  if (args == NULL) fail("out of memory", "", 0);
  args[0] = "node";
  args[1] = cli;
  for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
  execvp("node", args);
  fail("cannot run node (the sandbox CLI needs it on PATH)", "", errno);
}

// $SANDBOX_SOCKET; else $XDG_RUNTIME_DIR/sandbox/server.sock; else /tmp/sandbox-UID/server.sock.
// lib/cli/exec-socket.ts makes the same choice for the server.
static void socket_path(char *dir, size_t ndir, char *path, size_t npath) {
  const char *env = getenv("SANDBOX_SOCKET");
  if (env != NULL && *env != '\0') {
    // A server started for it runs in /, where a relative name means another file.
    if (env[0] != '/') fail("SANDBOX_SOCKET must be an absolute path, not \"%.64s\"", env, 0);
    if ((size_t)snprintf(path, npath, "%s", env) >= npath) fail("SANDBOX_SOCKET is too long", "", 0);
    dir[0] = '\0';
    return;
  }
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  int n =
      xdg != NULL && xdg[0] == '/' ? snprintf(dir, ndir, "%s/sandbox", xdg) : snprintf(dir, ndir, "/tmp/sandbox-%u", (unsigned)getuid());
  if (n < 0 || (size_t)n >= ndir) fail("XDG_RUNTIME_DIR is too long", "", 0);
  path_join(path, npath, dir, "server.sock");
}

// The socket's directory is ours alone: a directory another user made (in /tmp) could hold a socket
// that collects our environment and fds. SO_PEERCRED checks the server too; this keeps a server
// we start from binding where another user can replace it.
static int own_dir(const char *dir) {
  if (mkdir(dir, 0700) < 0 && errno != EEXIST) return 0;
  struct stat st;
  return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid() && (st.st_mode & 077) == 0;
}

// A connected socket to a server of our own uid, or -1 with errno.
static int connect_server(const char *path) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  struct ucred peer;
  socklen_t len = sizeof peer;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0 || peer.uid != getuid()) {
    close(fd);
    errno = EPERM;
    return -1;
  }
  return fd;
}

// Starts `sandbox serve --exec PATH` detached (its own session, stdio on /dev/null and its log,
// no other fd of ours: a pipe it kept open would hold up whoever waits for our output's end).
static void start_server(const char *path) {
  pid_t pid = fork();
  if (pid != 0) {
    if (pid > 0) waitpid(pid, NULL, 0);
    return;
  }
  setsid();
  if (fork() != 0) _exit(0);
  char cli[PATH_MAX], log[PATH_MAX + 8];
  path_join(cli, sizeof cli, cli_dir, "sandbox-cli.cjs");
  snprintf(log, sizeof log, "%s.log", path);
  int null = open("/dev/null", O_RDWR);
  int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (null < 0 || out < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) _exit(127);
  if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
    for (int fd = 3; fd < 1024; fd++) close(fd);
  if (chdir("/") < 0) _exit(127);
  execlp("node", "node", cli, "serve", "--exec", path, "--idle-timeout", IDLE_TIMEOUT, (char *)NULL);
  _exit(127);
}

static void put_u32(char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (char)(v >> (8 * i));
}

// The first line of the CLI bundle names its build; a server of another build answers 'f' and
// steps down, so a rebuilt or upgraded package never talks to an old server.
static void bundle_id(char *out, size_t n) {
  char file[PATH_MAX];
  path_join(file, sizeof file, cli_dir, "sandbox-cli.bundle.cjs");
  out[0] = '\0';
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t got = read(fd, out, n - 1);
  close(fd);
  out[got > 0 ? got : 0] = '\0';
  char *nl = strchr(out, '\n');
  if (nl != NULL) *nl = '\0';
  else out[0] = '\0';
}

// Sends the request with its fds; 0, or -1 with errno.
static int send_request(int fd, int argc, char **argv, char **envp) {
  char id[128];
  bundle_id(id, sizeof id);
  size_t envc = 0, size = 16 + strlen(id) + 1;
  for (int i = 0; i < argc; i++) size += strlen(argv[i]) + 1;
  for (; envp[envc] != NULL; envc++) size += strlen(envp[envc]) + 1;
  if (size > UINT32_MAX) {
    errno = E2BIG;
    return -1;
  }
  char *buf = malloc(size), *p = buf + 16;
  if (buf == NULL) return -1;
  memcpy(buf, "SBX1", 4);
  put_u32(buf + 4, (uint32_t)(size - 8));
  put_u32(buf + 8, (uint32_t)argc);
  put_u32(buf + 12, (uint32_t)envc);
  p = stpcpy(p, id) + 1;
  for (int i = 0; i < argc; i++) p = stpcpy(p, argv[i]) + 1;
  for (size_t i = 0; i < envc; i++) p = stpcpy(p, envp[i]) + 1;

  // A closed fd 0-2 is passed as /dev/null, as Node's start-up makes it for the Node CLI.
  int fds[4] = {open(".", O_PATH | O_DIRECTORY | O_CLOEXEC), 0, 1, 2};
  int null = -1;
  for (int i = 1; i < 4; i++) {
    if (fcntl(fds[i], F_GETFD) >= 0) continue;
    if (null < 0) null = open("/dev/null", O_RDWR | O_CLOEXEC);
    fds[i] = null;
  }
  if (fds[0] < 0 || fds[1] < 0) {
    free(buf);
    return -1;
  }
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof fds)];
  struct iovec iov = {buf, size};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(c), fds, sizeof fds);
  size_t sent = 0;
  int rc = 0;
  while (sent < size) {
    ssize_t n = sent == 0 ? sendmsg(fd, &msg, MSG_NOSIGNAL) : send(fd, buf + sent, size - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      rc = -1;
      break;
    }
    sent += (size_t)n;
  }
  int e = errno;
  close(fds[0]);
  if (null >= 0) close(null);
  free(buf);
  errno = e;
  return rc;
}

// In a handler only write(2), which is async-signal-safe (signal-safety(7)).
static void forward(int signo) {
  char msg[2] = {'s', (char)signo};
  int e = errno;
  ssize_t n = write(server_fd, msg, 2);
  (void)n;
  errno = e;
}

static const int FORWARDED[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH};

// Waits for the reply: the run's exit status, or 'f' (returns so that the caller runs Node).
static void await_reply(void) {
  struct sigaction sa = {.sa_handler = forward};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (size_t i = 0; i < sizeof FORWARDED / sizeof *FORWARDED; i++) sigaction(FORWARDED[i], &sa, NULL);

  unsigned char reply[5];
  size_t got = 0;
  while (got < sizeof reply) {
    ssize_t n = read(server_fd, reply + got, sizeof reply - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
    if (reply[0] == 'f') break;
  }
  sa.sa_handler = SIG_DFL;
  for (size_t i = 0; i < sizeof FORWARDED / sizeof *FORWARDED; i++) sigaction(FORWARDED[i], &sa, NULL);
  if (got >= 1 && reply[0] == 'f') return;
  if (got == sizeof reply && reply[0] == 'x') {
    int32_t status = (int32_t)((uint32_t)reply[1] | (uint32_t)reply[2] << 8 | (uint32_t)reply[3] << 16 | (uint32_t)reply[4] << 24);
    exit(status & 0xff);
  }
  // A server that died under a -t run left the terminal raw: give it back as it was.
  if (termios_saved) tcsetattr(0, TCSADRAIN, &saved_termios);
  fail("the server ended before the run did (the run ended with it)", "", 0);
}

int main(int argc, char **argv, char **envp) {
  ssize_t n = readlink("/proc/self/exe", cli_dir, sizeof cli_dir - 1);
  if (n <= 0) fail("cannot find the sandbox CLI: readlink /proc/self/exe", "", errno);
  cli_dir[n] = '\0';
  *strrchr(cli_dir, '/') = '\0';

  const char *m = getenv("SANDBOX_SERVER");
  enum mode mode = MODE_AUTO;
  if (m == NULL || *m == '\0' || strcmp(m, "auto") == 0) mode = MODE_AUTO;
  else if (strcmp(m, "off") == 0) mode = MODE_OFF;
  else if (strcmp(m, "required") == 0) mode = MODE_REQUIRED;
  else fail("SANDBOX_SERVER must be off, auto or required, not \"%.64s\"", m, 0);

  // Only runs go to the server; help, image, serve and the rest are the Node CLI's.
  int runs = argc >= 2 && (strcmp(argv[1], "exec") == 0 || strcmp(argv[1], "run") == 0);
  if (mode == MODE_OFF || !runs) run_node(argc, argv);

  char dir[PATH_MAX], path[PATH_MAX];
  socket_path(dir, sizeof dir, path, sizeof path);
  server_fd = connect_server(path);
  if (server_fd < 0) {
    int e = errno;
    if (mode == MODE_REQUIRED) fail("no sandbox server on %s (SANDBOX_SERVER=required; start one with `sandbox serve --exec`)", path, e);
    if ((e == ENOENT || e == ECONNREFUSED) && (dir[0] == '\0' || own_dir(dir))) start_server(path);
    run_node(argc, argv);
  }
  if (isatty(0) && tcgetattr(0, &saved_termios) == 0) termios_saved = 1;
  if (send_request(server_fd, argc, argv, envp) < 0) {
    if (mode == MODE_REQUIRED) fail("cannot send the run to the server on %s", path, errno);
    close(server_fd);
    run_node(argc, argv);
  }
  await_reply();
  close(server_fd);
  run_node(argc, argv);
}
