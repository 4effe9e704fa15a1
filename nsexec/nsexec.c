// nsexec: the part of namespace entry that must run before the Go runtime.
//
// A Go program is multithreaded from its first instruction, and the kernel
// refuses unshare(CLONE_NEWUSER) and setns() into a user or mount namespace
// from a multithreaded process. Capabilities gained in a new user namespace
// are also lost across execve() when the namespace has no uid map yet, so the
// namespace cannot be created by the parent's clone() either: the map
// (written by the setuid newuidmap/newgidmap) must come between unshare and
// the rest of the setup. This constructor therefore runs in the freshly
// exec'd usandbox binary, while it is still single-threaded. Nothing
// happens unless the role (_USANDBOX_ROLE, package internal/role) is one
// that has a stage here (proto.StageOf); the parent then has put a Config
// frame in the socket on fd 3 before it started this process. The
// messages, their frames and the protocol are package internal/proto's;
// proto_gen.h is generated from it.
//
// Sandbox mode (a new sandbox; see package sandbox for the whole tree):
//
//   parent (Go, host)              keeper (this constructor)
//   -----------------              -------------------------
//   Config              -------->  (read first)
//                                  unshare(CLONE_NEWUSER)
//                       <--------  MapMe
//   newuidmap/newgidmap PID
//   Mapped (or Abort)   -------->  setresuid/setresgid(0), setgroups
//                                  unshare(mnt, pid, uts, ipc, net)
//                                  clone(CLONE_PARENT|CLONE_PIDFD) -> init
//                       <--------  ChildPID: the init's pid
//   [cgroup: move the init in]     waits for the init's pidfd; then, for
//   'g' on the init's lifeline     --rm, removes upper/ and work/ (fd-relative,
//                                  no symlink followed) and exits: every
//                                  process of the sandbox is dead by then
//
//   init (pid 1, C, never execs)   setup (pid 2, Go)
//   ----------------------------   -----------------
//   waits for 'g', unshare(cgroup)
//   fork ------------------------> returns from here: the Go runtime starts,
//   closes all but its lifeline    reads the spec on fd 3, builds the root,
//   and a signalfd; forwards       closes every host fd, execs the command
//   signals to pid 2, reaps,
//   exits with pid 2's status, or 137 when the lifeline closes
//
// Neither the keeper nor the init ever executes a program inside the user
// namespace, so the kernel keeps their memory owned by the host's user
// namespace: the init, born non-dumpable (its pid namespace may be one
// that other processes share already, an OCI pod's), has its
// /proc/PID/{fd,exe,mem,root,cwd} out of reach of the sandbox's root, even
// with CAP_SYS_PTRACE; it holds no file of the host. The keeper is not in
// the sandbox's pid namespace at all (no process of the sandbox can name
// it), so it stays dumpable for the network drivers, which enter the
// sandbox's network namespace through its /proc/PID/ns; it keeps no fd but
// the init's pidfd, the lock and the directory it cleans.
//
// Fork mode ('usandbox exec'): setns(pidfd of the keeper, its
// namespaces), setns(the keeper's pid_for_children), a new cgroup
// namespace, then one fork into the sandbox's pid namespace; ChildPID is
// the new pid.
//
// Errors are sent back as data (an Error frame: step, errno) and printed
// once, by the parent.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NS_GET_NSTYPE
#define NS_GET_NSTYPE 0xb703
#endif

#include "proto_gen.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

static int nsexec_fd = -1;

// The stage this process was set up for, once the constructor returns
// into Go (see usandbox_nsexec_conn).
static const struct nsexec_stage *go_stage;

// release closes fd, which this process must not hold any longer. Linux
// frees the descriptor whatever close returns (EINTR and EIO report on
// data written before, and nothing is written to these; EBADF says it was
// not open): either way it is not held after, which is all that is wanted.
static void release(int fd) { (void)close(fd); }

// write_all writes n bytes of p to fd, however many writes it takes.
static int write_all(int fd, const char *p, size_t n) {
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

// read_all reads n bytes from fd into p; it fails at end of file.
static int read_all(int fd, char *p, size_t n) {
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

// send_frame sends body (len bytes of JSON, from an encoder of
// proto_gen.h: len < 0 when it did not fit) as one frame.
static int send_frame(const char *body, int len) {
	char frame[4 + NSEXEC_MAX_FRAME];
	if (len < 0 || len > NSEXEC_MAX_FRAME)
		return -1;
	frame[0] = (char)((unsigned)len >> 24);
	frame[1] = (char)((unsigned)len >> 16);
	frame[2] = (char)((unsigned)len >> 8);
	frame[3] = (char)len;
	memcpy(frame + 4, body, (size_t)len);
	return write_all(nsexec_fd, frame, 4 + (size_t)len);
}

// read_frame reads one frame's body into buf (cap bytes) and returns its
// length, or -1.
static int read_frame(char *buf, size_t cap) {
	unsigned char h[4];
	if (read_all(nsexec_fd, (char *)h, sizeof(h)) < 0)
		return -1;
	size_t n = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
	if (n > cap || read_all(nsexec_fd, buf, n) < 0)
		return -1;
	return (int)n;
}

static int send_pid(int child, int32_t pid) {
	char b[NSEXEC_MAX_FRAME];
	if (child) {
		struct nsexec_child_pid m = {.pid = pid};
		return send_frame(b, nsexec_encode_child_pid(b, sizeof(b), &m));
	}
	struct nsexec_map_me m = {.pid = pid};
	return send_frame(b, nsexec_encode_map_me(b, sizeof(b), &m));
}

static void fail(const char *step, int err) {
	char b[NSEXEC_MAX_FRAME];
	struct nsexec_error m = {.step = step, .errno_ = err};
	// If the parent is gone there is nobody to tell: exit all the same.
	(void)send_frame(b, nsexec_encode_error(b, sizeof(b), &m));
	_exit(NSEXEC_EXIT_FAILED);
}

// wait_mapped waits for the parent's Mapped; Abort, or anything else,
// ends this process.
static void wait_mapped(void) {
	char b[NSEXEC_MAX_FRAME];
	int n = read_frame(b, sizeof(b));
	if (n != (int)strlen(NSEXEC_MSG_MAPPED) || memcmp(b, NSEXEC_MSG_MAPPED, (size_t)n) != 0)
		// The parent went away or gave up: it reports the error.
		_exit(NSEXEC_EXIT_FAILED);
}

// not_dumpable keeps /proc/self of this process out of reach. It is called
// again after every change of credentials, which resets the flag to
// fs.suid_dumpable.
static void not_dumpable(void) {
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		fail(NSEXEC_STEP_SETID, errno);
}

// drop_groups drops the supplementary groups, unless setgroups(2) is
// denied in this user namespace (its gid map was written without
// newgidmap: one ID, the groups stay, unmapped, as everywhere in rootless
// single-ID mode).
static void drop_groups(void) {
	char buf[16] = {0};
	int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n;
		do
			n = read(fd, buf, sizeof(buf) - 1);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			fail(NSEXEC_STEP_SETID, errno);
		release(fd);
		if (strncmp(buf, "deny", 4) == 0)
			return;
	} else if (errno != ENOENT) {
		fail(NSEXEC_STEP_SETID, errno);
	}
	// Allowed, or not known: a process that joined a sandbox has no pid
	// yet in the /proc of the mount namespace it is in now (that of the
	// sandbox's pid namespace), so /proc/self is not there; then
	// setgroups itself tells, EPERM being its denial.
	if (setgroups(0, NULL) < 0 && !(fd < 0 && errno == EPERM))
		fail(NSEXEC_STEP_SETID, errno);
}

static void become_root(void) {
	drop_groups();
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		fail(NSEXEC_STEP_SETID, errno);
	not_dumpable();
}

// new_userns creates the user namespace, has the parent map it (MapMe,
// then Mapped) and becomes root in it.
static void new_userns(void) {
	if (unshare(CLONE_NEWUSER) < 0)
		fail(NSEXEC_STEP_USERNS, errno);
	if (send_pid(0, getpid()) < 0)
		_exit(NSEXEC_EXIT_FAILED);
	wait_mapped();
	become_root();
}

// identity_map turns the user or gid map at path, as the process that
// reads it sees its own namespace's, into the map of a child namespace
// that maps each of its IDs to itself: one line per extent, because one
// line of a child's map may not span two extents of its parent's.
static int identity_map(const char *path, char *out, size_t cap) {
	char buf[1024];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t got = 0;
	for (;;) {
		ssize_t r = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			release(fd);
			errno = e;
			return -1;
		}
		if (r == 0 || (got += (size_t)r) == sizeof(buf) - 1)
			break;
	}
	release(fd);
	buf[got] = '\0';
	size_t len = 0;
	const char *p = buf;
	while (*p != '\0') {
		unsigned long inside, outside, count;
		int used = 0;
		if (sscanf(p, " %lu %lu %lu%n", &inside, &outside, &count, &used) != 3)
			break;
		int w = snprintf(out + len, cap - len, "%lu %lu %lu\n", inside, inside, count);
		if (w < 0 || (size_t)w >= cap - len) {
			errno = E2BIG;
			return -1;
		}
		len += (size_t)w;
		p += used;
	}
	if (len == 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

// write_file writes s to path, in one write, as the maps want.
static int write_file(const char *path, const char *s) {
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = write_all(fd, s, strlen(s));
	int e = errno;
	release(fd);
	errno = e;
	return r;
}

// child_userns makes the sandbox's user namespace as a child of the one
// that parentfd names (a network's, held by its holder: package
// network/holder), where this process, the user's, is root. A helper
// forked there before the unshare writes the new namespace's maps, the
// identity of each extent of the parent's: no newuidmap, no MapMe. The
// helper has CAP_SETGID in the parent, so setgroups stays allowed.
//
//   keeper                              mapper (fork, stays in the parent)
//   setns(parentfd, CLONE_NEWUSER)
//   fork ------------------------------> waits on the pipe
//   unshare(CLONE_NEWUSER)
//   'u' on the pipe -------------------> writes /proc/KEEPER/{uid,gid}_map
//   waits for the mapper's exit <------- _exit(0), or the errno
static void child_userns(int parentfd) {
	if (setns(parentfd, CLONE_NEWUSER) < 0)
		fail(NSEXEC_STEP_PARENTNS, errno);
	release(parentfd);
	char umap[512], gmap[512];
	if (identity_map("/proc/self/uid_map", umap, sizeof(umap)) < 0 ||
	    identity_map("/proc/self/gid_map", gmap, sizeof(gmap)) < 0)
		fail(NSEXEC_STEP_PARENTNS, errno);
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		fail(NSEXEC_STEP_PARENTNS, errno);
	pid_t self = getpid();
	pid_t mapper = fork();
	if (mapper < 0)
		fail(NSEXEC_STEP_PARENTNS, errno);
	if (mapper == 0) {
		release(p[1]);
		char c;
		if (read(p[0], &c, 1) != 1)
			_exit(ECHILD); // the keeper gave up
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)self);
		if (write_file(path, umap) < 0)
			_exit(errno & 0xff);
		snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)self);
		if (write_file(path, gmap) < 0)
			_exit(errno & 0xff);
		_exit(0);
	}
	release(p[0]);
	int err = 0;
	if (unshare(CLONE_NEWUSER) < 0)
		err = errno;
	else if (write_all(p[1], "u", 1) < 0)
		err = errno;
	release(p[1]);
	int st;
	while (waitpid(mapper, &st, 0) < 0)
		if (errno != EINTR)
			fail(NSEXEC_STEP_PARENTNS, errno);
	if (err == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		err = WIFEXITED(st) ? WEXITSTATUS(st) : ECHILD;
	if (err != 0)
		fail(NSEXEC_STEP_PARENTNS, err);
	become_root();
}

// join_namespaces enters a running sandbox's namespaces (flags): those
// of the process that pidfd refers to (the sandbox's keeper, which has
// them all but the pid namespace), all at once with setns on the pidfd,
// never those of some process found by pid; the pid namespace through
// pidnsfd (the keeper's pid_for_children). A new cgroup namespace is made
// last: the caller started this process in the sandbox's cgroup, if it
// has one, which so becomes its root, as for the sandbox's init.
static void join_namespaces(int pidfd, int pidnsfd, unsigned long flags) {
	not_dumpable();
	unsigned long direct = flags & ~(unsigned long)(CLONE_NEWPID | CLONE_NEWCGROUP);
	if (setns(pidfd, (int)direct) < 0)
		fail(NSEXEC_STEP_JOIN, errno);
	release(pidfd);
	if (flags & CLONE_NEWPID) {
		if (pidnsfd < 0)
			fail(NSEXEC_STEP_JOIN, EINVAL);
		if (setns(pidnsfd, CLONE_NEWPID) < 0)
			fail(NSEXEC_STEP_JOIN, errno);
		release(pidnsfd);
	}
	if (flags & CLONE_NEWUSER)
		become_root();
	if ((flags & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0)
		fail(NSEXEC_STEP_JOIN, errno);
}

// remove_all removes name in dirfd and everything below it, relative to
// open directories only: a symlink is removed, never followed. It runs in
// the keeper once every process of the sandbox is dead. Each level holds
// one fd and one buffer, so deep trees need a high RLIMIT_NOFILE (raised
// by the caller).
struct dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static int remove_all(int dirfd, const char *name) {
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	char *buf = malloc(4096);
	int rc = -1;
	if (buf == NULL)
		goto out;
	// Entries removed while reading may shift the rest: read again until
	// the directory is empty (or nothing more can go).
	for (int pass = 0; pass < 4; pass++) {
		if (lseek(fd, 0, SEEK_SET) < 0)
			goto out;
		for (;;) {
			// An error reading the directory ends this pass like its
			// end does: the rmdir below then fails, and says so.
			long n = syscall(SYS_getdents64, fd, buf, 4096);
			if (n <= 0)
				break;
			for (long off = 0; off < n;) {
				struct dirent64 *d = (struct dirent64 *)(buf + off);
				off += d->d_reclen;
				if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
					continue;
				(void)remove_all(fd, d->d_name); // what stays shows below
			}
		}
		if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT) {
			rc = 0;
			goto out;
		}
		if (errno != ENOTEMPTY)
			goto out;
	}
out:
	free(buf);
	release(fd);
	return rc;
}

// close_except closes every fd from 3 on but the n of keep (negative
// ones, and those below 3, are none), which it sorts.
static void close_except(int *keep, size_t n) {
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	unsigned int from = 3;
	for (size_t i = 0; i < n; i++) {
		if (keep[i] < (int)from)
			continue; // below 3, or kept already
		if ((unsigned int)keep[i] > from && syscall(SYS_close_range, from, keep[i] - 1, 0) < 0)
			_exit(NSEXEC_EXIT_FAILED);
		from = (unsigned int)keep[i] + 1;
	}
	if (syscall(SYS_close_range, from, ~0U, 0) < 0)
		_exit(NSEXEC_EXIT_FAILED);
}

// keeper waits, outside the sandbox's pid namespace, for the init to end,
// then removes an --rm sandbox's writable layer (in removefd, -1: none).
// It holds the sandbox's lock until it is done, so "unlocked" means "dead
// and cleaned".
static void keeper(int initfd, int removefd, int lockfd) {
	// It outlives its parent if need be: its work starts when the
	// sandbox ends, whoever ended it. (0 is always a valid signal here,
	// so this cannot fail; were it to, the keeper would die with its
	// parent, the sandbox too, and the next run reclaim the layer: not
	// worth ending a sandbox that runs now.)
	(void)prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
	// It lives in the sandbox's namespaces as long as the sandbox does:
	// of its caller's fds (stdio, the socket, whatever the caller's own
	// caller let it inherit, a host directory perhaps) it keeps none.
	for (int fd = 0; fd < 3; fd++)
		release(fd);
	int keep[] = {initfd, removefd, lockfd};
	close_except(keep, sizeof(keep) / sizeof(keep[0]));
	nsexec_shed_text();
	struct pollfd p = {.fd = initfd, .events = POLLIN};
	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			_exit(NSEXEC_EXIT_FAILED);
	if (removefd < 0)
		_exit(0);
	// Let go of the overlay first (the keeper shares the sandbox's mount
	// namespace, whose root it is since pivot_root).
	if (umount2("/", MNT_DETACH) < 0 && errno != EINVAL)
		_exit(NSEXEC_EXIT_FAILED);
	// Deep trees need an fd per level. Without the raise, remove_all
	// still removes what the soft limit allows, and what stays makes the
	// keeper fail, which the parent reports.
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	int rc = remove_all(removefd, NSEXEC_UPPER_DIR);
	rc |= remove_all(removefd, NSEXEC_WORK_DIR);
	_exit(rc == 0 ? 0 : NSEXEC_EXIT_FAILED);
}


static int status_code(int st) {
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

static const int forwarded[] = {NSEXEC_INIT_SIGNALS};

// init is pid 1 of the sandbox. It returns only in the forked setup
// process, which then runs Go.
static void init(int lifeline, unsigned long cgroupns, int detach) {
	// Before anything else: this process is in the sandbox's pid
	// namespace.
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		_exit(NSEXEC_EXIT_FAILED);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		_exit(NSEXEC_EXIT_FAILED);
	// Only the name ps shows; PR_SET_NAME fails only for a bad pointer.
	(void)prctl(PR_SET_NAME, "usandbox-init", 0, 0, 0);
	// Only the lifeline, the sync socket and stdio stay: everything else
	// the parent passed (the lock, the state directory) is the keeper's.
	int keep[] = {lifeline, nsexec_fd};
	close_except(keep, sizeof(keep) / sizeof(keep[0]));

	sigset_t set, old;
	if (sigemptyset(&set) < 0 || sigaddset(&set, SIGCHLD) < 0)
		_exit(NSEXEC_EXIT_FAILED);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		if (sigaddset(&set, forwarded[i]) < 0)
			_exit(NSEXEC_EXIT_FAILED);
	if (sigprocmask(SIG_BLOCK, &set, &old) < 0)
		_exit(NSEXEC_EXIT_FAILED);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0)
		_exit(NSEXEC_EXIT_FAILED);

	// Wait until the parent has put this process in its cgroup: the
	// cgroup namespace made next has that cgroup as its root.
	if (fcntl(lifeline, F_SETFL, 0) < 0)
		_exit(NSEXEC_EXIT_FAILED);
	char go = 0;
	for (;;) {
		ssize_t n = read(lifeline, &go, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != 1 || go != NSEXEC_LIFELINE_GO)
			_exit(NSEXEC_EXIT_FAILED);
		break;
	}
	if (cgroupns && unshare(CLONE_NEWCGROUP) < 0)
		_exit(NSEXEC_EXIT_FAILED);
	if (detach) {
		// An OCI container: its caller goes once it is created, and
		// the caller's subreaper (conmon, containerd's shim) watches
		// the init from then on, as runc's model has it: the
		// container's process is pid 1 itself, so this process runs
		// the setup in Go and becomes the command; nothing is left to
		// forward signals or watch a lifeline.
		if (prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) < 0)
			_exit(NSEXEC_EXIT_FAILED);
		release(lifeline);
		release(sfd);
		if (sigprocmask(SIG_SETMASK, &old, NULL) < 0)
			_exit(NSEXEC_EXIT_FAILED);
		return; // the Go runtime starts here, as pid 1 (go_stage is set)
	}

	pid_t cmd = fork();
	if (cmd < 0)
		_exit(NSEXEC_EXIT_FAILED);
	if (cmd == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
			_exit(NSEXEC_EXIT_FAILED);
		release(sfd);
		release(lifeline);
		if (sigprocmask(SIG_SETMASK, &old, NULL) < 0)
			_exit(NSEXEC_EXIT_FAILED);
		return; // the Go runtime starts here, as pid 2 (go_stage is set)
	}
	// The command's stdio and the sync socket are the setup's.
	release(nsexec_fd);
	for (int fd = 0; fd < 3; fd++)
		release(fd);
	nsexec_shed_text();

	int code = NSEXEC_EXIT_FAILED;
	struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN}, {.fd = lifeline, .events = POLLIN}};
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			// Only for want of memory: the init cannot watch any
			// more, so it exits, and the kernel kills the rest.
			break;
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			char buf[64];
			ssize_t n = read(lifeline, buf, sizeof(buf));
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
				// The watcher is gone: nothing may run unwatched.
				// pid 1 exits and the kernel kills the rest.
				code = NSEXEC_EXIT_KILLED;
				break;
			}
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			// poll said a signal is pending: the read is whole, or
			// interrupted (EINTR), and then poll asks again.
			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo != SIGCHLD) {
				// cmd is not reaped before it is waited for below,
				// so it exists, if as a zombie, and kill cannot fail
				// (a zombie takes the signal and ignores it).
				(void)kill(cmd, (int)si.ssi_signo);
				continue;
			}
			// SIGCHLD was blocked before the fork: an exit, however
			// early, is never lost. Reap everything that is dead.
			int st, done = 0;
			pid_t p;
			while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
				if (p == cmd) {
					code = status_code(st);
					done = 1;
				}
			}
			if (done)
				break;
		}
	}
	_exit(code);
}

// join_paths enters the namespaces of fds first..first+count-1 (an OCI
// bundle's, given by path; the parent put a user namespace first), with
// the caller's privileges, before any namespace is made.
static void join_paths(int first, int count) {
	for (int fd = first; fd < first + count; fd++) {
		int type = ioctl(fd, NS_GET_NSTYPE);
		if (type < 0)
			fail(NSEXEC_STEP_JOIN, errno);
		if (setns(fd, type) < 0)
			fail(NSEXEC_STEP_JOIN, errno);
		release(fd);
		if (type == CLONE_NEWUSER)
			become_root();
	}
}

static void sandbox(unsigned long flags, int lifeline, int removefd, int lockfd, int parentns, int join, int detach) {
	unsigned long joined = 0;
	if (join >= 0) {
		// --network container:NAME: NAME's user and network namespaces
		// (its keeper's, through a pidfd), as a pod's members share
		// theirs; the rest are new.
		joined = flags & (unsigned long)(CLONE_NEWUSER | CLONE_NEWNET);
		join_namespaces(join, -1, joined);
	} else if (parentns >= 0) {
		if (!(flags & CLONE_NEWUSER))
			fail(NSEXEC_STEP_PARENTNS, EINVAL);
		child_userns(parentns);
	} else if (flags & CLONE_NEWUSER) {
		new_userns();
	}
	// The cgroup namespace is the init's own, made once it is in its
	// cgroup.
	unsigned long rest = flags & ~(unsigned long)(CLONE_NEWUSER | CLONE_NEWCGROUP) & ~joined;
	if (rest && unshare((int)rest) < 0)
		fail(NSEXEC_STEP_UNSHARE, errno);
	// The keeper and the init must not keep the caller's working
	// directory, a directory of the host: at the root, which is the old
	// root that setup's pivot_root replaces, they are moved into the
	// sandbox's root with it.
	if (chdir("/") < 0)
		fail(NSEXEC_STEP_UNSHARE, errno);

	int initfd = -1;
	// The init is born not dumpable: its pid namespace may have other
	// processes already (an OCI pod member joins another container's by
	// path, join_paths), and a dumpable newborn, a copy of this process
	// with the host's root and the caller's fds, would be theirs to
	// ptrace before its first instruction. The dumpable flag is copied
	// at the clone; the init's own prctl comes too late.
	not_dumpable();
	// CLONE_PARENT: the init is the usandbox parent's child, so the
	// parent waits for it directly; CLONE_PIDFD lets the keeper watch it.
	long pid = syscall(SYS_clone, CLONE_PARENT | CLONE_PIDFD | SIGCHLD, 0, &initfd, 0, 0);
	if (pid < 0)
		fail(NSEXEC_STEP_FORK, errno);
	if (pid == 0) {
		init(lifeline, flags & CLONE_NEWCGROUP, detach);
		return;
	}
	// The keeper is not in the sandbox's pid namespace, so no process of
	// the sandbox can name it (unless the sandbox has the caller's pid
	// namespace: see package ociruntime): it may be dumpable, and must
	// be, for the network drivers (nsenter, slirp4netns) to enter its
	// namespaces by /proc/PID/ns, which are the sandbox's (all but the
	// pid namespace), and for exec to enter them through its pidfd.
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		fail(NSEXEC_STEP_SETID, errno);
	if (send_pid(1, (int32_t)pid) < 0)
		_exit(NSEXEC_EXIT_FAILED);
	release(lifeline);
	keeper(initfd, removefd, lockfd);
}

// usandbox_nsexec_conn tells package nsexec's Conn whether the Go that
// runs now is the Go side of a role this constructor set up, with the
// socket on fd 3 for it.
int usandbox_nsexec_conn(void) { return go_stage != NULL && !go_stage->clear; }

static const struct nsexec_stage *stage_of(const char *role) {
	for (size_t i = 0; i < sizeof(nsexec_stages) / sizeof(nsexec_stages[0]); i++)
		if (strcmp(role, nsexec_stages[i].role) == 0)
			return &nsexec_stages[i];
	return NULL;
}

__attribute__((constructor)) static void usandbox_nsexec(void) {
	const char *role = getenv(NSEXEC_ROLE_ENV);
	if (role == NULL)
		return;
	const struct nsexec_stage *st = stage_of(role);
	if (st == NULL)
		return; // a role that is not started through nsexec (the monitor, lean, ...)
	nsexec_fd = NSEXEC_CONN_FD;

	char b[NSEXEC_MAX_FRAME];
	struct nsexec_config cfg;
	int n = read_frame(b, sizeof(b));
	if (n < 0) {
		// Not started by package nsexec (a stray role in the environment):
		// there is no parent to tell, and nowhere else to say it if
		// stderr fails.
		(void)fprintf(stderr, "usandbox: %s=%s, but no configuration on fd %d\n", NSEXEC_ROLE_ENV, role,
			      NSEXEC_CONN_FD);
		_exit(NSEXEC_EXIT_FAILED);
	}
	if (nsexec_parse_config(b, (size_t)n, &cfg) < 0)
		fail(NSEXEC_STEP_CONFIG, EINVAL);
	if (st->clear && unsetenv(NSEXEC_ROLE_ENV) < 0)
		fail(NSEXEC_STEP_CONFIG, errno);
	unsigned long flags = (unsigned long)cfg.flags;

	if (cfg.set_oom) {
		char v[16];
		snprintf(v, sizeof(v), "%d", cfg.oom_score_adj);
		if (write_file("/proc/self/oom_score_adj", v) < 0)
			fail(NSEXEC_STEP_OOM, errno);
	}

	// Die with the parent. Checking getppid afterwards closes the race
	// where the parent died before prctl took effect.
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		fail(NSEXEC_STEP_PDEATHSIG, errno);
	if (getppid() != (pid_t)cfg.ppid)
		_exit(NSEXEC_EXIT_FAILED);

	if (st->mode == NSEXEC_MODE_SANDBOX) {
		go_stage = st;
		if (cfg.join_count > 0)
			join_paths(cfg.join_first, cfg.join_count);
		sandbox(flags, cfg.lifeline, cfg.remove_in, cfg.lock, cfg.parent_user_ns, cfg.join, cfg.detach);
		return;
	}

	if (cfg.join >= 0) {
		join_namespaces(cfg.join, cfg.join_pid_ns, flags);
	} else if (flags & CLONE_NEWUSER) {
		new_userns();
	}
	unsigned long rest = flags & ~(unsigned long)CLONE_NEWUSER;
	if (cfg.join < 0 && rest && unshare((int)rest) < 0)
		fail(NSEXEC_STEP_UNSHARE, errno);

	if (st->mode == NSEXEC_MODE_FORK) {
		// The child appears in the sandbox's pid namespace: out of reach
		// of its processes from its first instruction on.
		not_dumpable();
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
			go_stage = st;
			return; // the Go runtime starts here
		}
		// The new process is the parent's to end if it does not learn
		// its pid: it is the parent's child, and reads its spec first.
		_exit(send_pid(1, (int32_t)pid) < 0 ? NSEXEC_EXIT_FAILED : 0);
	}
	if (send_pid(1, getpid()) < 0)
		_exit(NSEXEC_EXIT_FAILED);
	go_stage = st;
	if (st->clear)
		// The command line runs again: the socket is done with.
		release(nsexec_fd);
}
