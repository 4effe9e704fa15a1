// nsexec: the part of namespace entry that must run before the Go runtime.
//
// A Go program is multithreaded from its first instruction, and the kernel
// refuses unshare(CLONE_NEWUSER) and setns() into a user or mount namespace
// from a multithreaded process. Capabilities gained in a new user namespace
// are also lost across execve() when the namespace has no uid map yet, so the
// namespace cannot be created by the parent's clone() either: the map
// (written by the setuid newuidmap/newgidmap) must come between unshare and
// the rest of the setup. This constructor therefore runs in the freshly
// exec'd usandbox binary, while it is still single-threaded:
//
//   parent (Go, host)                 child (this constructor)
//   -----------------                 -------------------------
//                                     unshare(CLONE_NEWUSER)
//                          <- 'U' --  "map me"
//   newuidmap/newgidmap PID
//                          -- 'M' ->  (or 'X': give up)
//                                     setresuid/setresgid(0), setgroups
//                                     unshare(other namespaces)
//                                     [fork mode] clone(CLONE_PARENT): the
//                                     new process is pid 1 of the new pid
//                                     namespace and the parent's own child
//                          <- 'P' --  pid of that process; this one exits
//   Go code continues (or waits for    Go runtime starts in the child
//   the forked pid)
//
// Errors are sent back as data ('E', step, errno) and printed once, by the
// parent. Nothing happens unless _USANDBOX_NSEXEC is set.
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>
#include <fcntl.h>

#include "nsexec.h"

static int nsexec_fd = -1;

static int send_msg(char kind, char step, int32_t value) {
	struct nsexec_msg m;
	memset(&m, 0, sizeof(m));
	m.kind = kind;
	m.step = step;
	m.value = value;
	for (;;) {
		ssize_t n = write(nsexec_fd, &m, sizeof(m));
		if (n == (ssize_t)sizeof(m))
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		return -1;
	}
}

static void fail(char step, int err) {
	send_msg(NSEXEC_ERROR, step, err);
	_exit(NSEXEC_EXIT_FAILED);
}

static void wait_for(char want, char step) {
	struct nsexec_msg m;
	for (;;) {
		ssize_t n = read(nsexec_fd, &m, sizeof(m));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(m) || m.kind != want)
			// The parent went away or gave up: it reports the error.
			_exit(NSEXEC_EXIT_FAILED);
		return;
	}
}

// allow_setgroups reports whether setgroups(2) may be called: it is denied in
// a user namespace whose gid map was written without newgidmap.
static int allow_setgroups(void) {
	char buf[16] = {0};
	int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && strncmp(buf, "allow", 5) == 0;
}

// join_namespaces enters the namespaces (flags) of the running process
// pid: the user namespace first, which gives the capabilities the others
// need (we own it), the mount namespace last. All are opened first, while
// /proc is still the host's.
static void join_namespaces(pid_t pid, unsigned long flags) {
	static const struct { unsigned long flag; const char *name; } order[] = {
		{CLONE_NEWUSER, "user"}, {CLONE_NEWIPC, "ipc"}, {CLONE_NEWUTS, "uts"},
		{CLONE_NEWNET, "net"}, {CLONE_NEWPID, "pid"}, {CLONE_NEWCGROUP, "cgroup"},
		{CLONE_NEWNS, "mnt"},
	};
	int fds[7];
	char path[64];
	for (int i = 0; i < 7; i++) {
		fds[i] = -1;
		if (!(flags & order[i].flag))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, order[i].name);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			fail(NSEXEC_STEP_JOIN, errno);
	}
	for (int i = 0; i < 7; i++) {
		if (fds[i] < 0)
			continue;
		if (setns(fds[i], order[i].flag) < 0)
			fail(NSEXEC_STEP_JOIN, errno);
		close(fds[i]);
	}
	if (flags & CLONE_NEWUSER) {
		if (allow_setgroups() && setgroups(0, NULL) < 0)
			fail(NSEXEC_STEP_SETID, errno);
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
			fail(NSEXEC_STEP_SETID, errno);
	}
}

__attribute__((constructor)) static void usandbox_nsexec(void) {
	const char *spec = getenv(NSEXEC_ENV);
	if (spec == NULL)
		return;

	int fd = -1, fork_mode = 0;
	unsigned long flags = 0;
	long ppid = 0, join = 0;
	if (sscanf(spec, "%d,%lx,%d,%ld,%ld", &fd, &flags, &fork_mode, &ppid, &join) != 5 || fd < 0) {
		fprintf(stderr, "usandbox: malformed %s=%s\n", NSEXEC_ENV, spec);
		_exit(NSEXEC_EXIT_FAILED);
	}
	unsetenv(NSEXEC_ENV);
	nsexec_fd = fd;

	// Die with the parent. Checking getppid afterwards closes the race
	// where the parent died before prctl took effect.
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		fail(NSEXEC_STEP_PDEATHSIG, errno);
	if (getppid() != (pid_t)ppid)
		_exit(NSEXEC_EXIT_FAILED);

	if (join > 0) {
		join_namespaces((pid_t)join, flags);
	} else if (flags & CLONE_NEWUSER) {
		if (unshare(CLONE_NEWUSER) < 0)
			fail(NSEXEC_STEP_USERNS, errno);
		if (send_msg(NSEXEC_MAP_ME, 0, getpid()) < 0)
			_exit(NSEXEC_EXIT_FAILED);
		wait_for(NSEXEC_MAPPED, NSEXEC_STEP_USERNS);
		if (allow_setgroups() && setgroups(0, NULL) < 0)
			fail(NSEXEC_STEP_SETID, errno);
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
			fail(NSEXEC_STEP_SETID, errno);
	}

	unsigned long rest = flags & ~(unsigned long)CLONE_NEWUSER;
	if (join <= 0 && rest && unshare((int)rest) < 0)
		fail(NSEXEC_STEP_UNSHARE, errno);

	if (fork_mode) {
		// CLONE_PARENT: the new process is the usandbox parent's child, so
		// the parent waits for it directly and this process can go.
		long pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
		if (pid < 0)
			fail(NSEXEC_STEP_FORK, errno);
		if (pid == 0) {
			// The parent is outside this pid namespace, so getppid()
			// is 0 here and cannot tell whether it is still alive; the
			// Go side finds out when it reads its spec from the socket.
			if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
				fail(NSEXEC_STEP_PDEATHSIG, errno);
			return; // the Go runtime starts here, as pid 1
		}
		send_msg(NSEXEC_CHILD_PID, 0, (int32_t)pid);
		_exit(0);
	}
}
