// The monitor of a detached sandbox in C: once a sandbox runs, its
// monitor (on the host, outside the sandbox's namespaces) has little left
// to do, and a Go process costs 6 MB of RSS for it. It re-executes this
// binary in role "lean" (_USANDBOX_ROLE), with a Monitor frame on its
// stdin (package internal/proto; proto_gen.h is generated from it); this
// constructor then runs the loop below, never starting the Go runtime:
// copy the command's output into the log (k8s-file lines: "TIME STREAM
// F|P TEXT", rotated past logMax bytes), wait for the init (its status is
// the command's) and for the keeper (which removes an --rm sandbox's
// writable layer once every process of the sandbox is dead), then exec
// the Go finish step (role "finish") with the status.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto_gen.h"

// release closes fd, which this process must not hold any longer. Linux
// frees the descriptor whatever close returns (EINTR and EIO report on
// data written before, which the log's writes checked; EBADF says it was
// not open): either way it is not held after, which is all that is wanted.
static void release(int fd) { (void)close(fd); }

static int status_code(int st) {
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

static int signal_fd(void) {
	sigset_t set;
	if (sigemptyset(&set) < 0 || sigaddset(&set, SIGCHLD) < 0 || sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC);
}

struct stream {
	int fd;
	const char *name;
	char buf[16384];
	size_t len;
};

struct logfile {
	int fd;
	long long size, max;
	const char *name, *rotated;
};

// log_rotate moves the log to its rotated name and starts a new one. The
// working directory is the sandbox's (see lean.go). If rotating fails,
// the log goes on growing in the file it is (renamed, if only the open or
// dup3 failed), and the next line tries again: better than losing the
// output, and there is nobody to tell (stderr is /dev/null).
static void log_rotate(struct logfile *l) {
	if (rename(l->name, l->rotated) < 0)
		return;
	int fd = open(l->name, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	int ok = dup3(fd, l->fd, O_CLOEXEC) >= 0;
	release(fd);
	if (ok)
		l->size = 0;
}

// write_line writes the iovecs, however many writes it takes, and counts
// what went into the log. A line that cannot be written (ENOSPC, EIO) is
// lost: there is nobody to tell, and the loop must go on draining the
// command's output, or the command would block on a full pipe.
static void write_line(struct logfile *l, struct iovec *iov, int cnt) {
	while (cnt > 0) {
		ssize_t w = writev(l->fd, iov, cnt);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		l->size += w;
		for (; cnt > 0 && (size_t)w >= iov->iov_len; iov++, cnt--)
			w -= (ssize_t)iov->iov_len;
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
}

static void log_line(struct logfile *l, const char *stream, int full, const char *text, size_t n) {
	char head[96];
	struct timespec ts = {0};
	struct tm tm = {0};
	// Neither fails for CLOCK_REALTIME and a time it gives (EINVAL,
	// EOVERFLOW: not before year 2^31); if one did, the line would
	// carry the time 0 rather than be lost.
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || gmtime_r(&ts.tv_sec, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	int h = snprintf(head, sizeof(head), "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ %s %s ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec, stream, full ? "F" : "P");
	if (h < 0 || (size_t)h >= sizeof(head))
		return; // not with these fields (at most 60 bytes): nothing to log it with
	if (l->max > 0 && l->size + h + (long long)n + 1 > l->max)
		log_rotate(l);
	// Whole line in one writev: readers never see half of one.
	struct iovec iov[3] = {{head, (size_t)h}, {(void *)text, n}, {"\n", 1}};
	write_line(l, iov, 3);
}

// drain reads what s has and logs its complete lines; at eof, the rest.
static int drain(struct stream *s, struct logfile *l) {
	ssize_t n = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	// Any other error ends the stream as its end does: nothing more can
	// be read from it.
	int eof = n <= 0;
	if (n > 0)
		s->len += (size_t)n;
	size_t start = 0;
	for (size_t i = 0; i < s->len; i++) {
		if (s->buf[i] == '\n') {
			log_line(l, s->name, 1, s->buf + start, i - start);
			start = i + 1;
		}
	}
	if (start == 0 && s->len == sizeof(s->buf)) {
		log_line(l, s->name, 0, s->buf, s->len); // a line longer than the buffer
		start = s->len;
	}
	memmove(s->buf, s->buf + start, s->len - start);
	s->len -= start;
	if (eof && s->len > 0) {
		log_line(l, s->name, 0, s->buf, s->len);
		s->len = 0;
	}
	return !eof;
}

static void monitor_loop(const struct lean_monitor *m) {
	int init = m->init, keeper = m->keeper, out = m->stdout_, errfd = m->stderr_, logfd = m->log;
	struct logfile l = {.fd = logfd, .max = m->log_max, .name = m->log_name, .rotated = m->rotated_name};
	// The log's size so far, for its cap; fstat fails only on a bad fd,
	// and then every write fails too: the size does not matter.
	struct stat st;
	l.size = fstat(logfd, &st) == 0 ? st.st_size : 0;
	struct stream s[2] = {{.fd = out, .name = "stdout"}, {.fd = errfd, .name = "stderr"}};
	int open_streams = (out >= 0) + (errfd >= 0);
	lean_shed_text();
	int sfd = signal_fd();
	if (sfd < 0)
		_exit(LEAN_EXIT_FAILED);
	int code = -1, keeper_done = keeper <= 0;
	// pidfds of the init and the keeper become readable when they exit,
	// whatever happened to the SIGCHLD (one that arrived before this
	// process blocked it is gone): each turn also asks them directly.
	// Both are this process's children, not yet reaped, so pidfd_open
	// fails only for want of fds or memory; then the loop asks waitpid
	// every tick instead.
	int initfd = (int)syscall(SYS_pidfd_open, init, 0);
	int keeperfd = keeper > 0 ? (int)syscall(SYS_pidfd_open, keeper, 0) : -1;
	int wait_ms = initfd < 0 || (keeper > 0 && keeperfd < 0) ? 100 : -1;
	// Whatever died before this loop started is reaped on its first turn.
	int first = 1;
	while (code < 0 || !keeper_done || open_streams > 0) {
		struct pollfd pfd[5] = {{.fd = sfd, .events = POLLIN},
					{.fd = s[0].fd, .events = POLLIN},
					{.fd = s[1].fd, .events = POLLIN},
					{.fd = code < 0 ? initfd : -1, .events = POLLIN},
					{.fd = keeper_done ? -1 : keeperfd, .events = POLLIN}};
		// After the init is gone, only what is still buffered is read.
		int n = poll(pfd, 5, first ? 0 : (code < 0 || !keeper_done) ? wait_ms : 200);
		if (n < 0 && errno != EINTR)
			// Only for want of memory: the loop cannot watch any more.
			// The finish step records 137, and, as it ends, the
			// lifeline closes, which ends the sandbox: nothing runs
			// unwatched.
			break;
		if (n == 0 && !first && code >= 0 && keeper_done)
			break;
		for (int i = 0; i < 2; i++) {
			if (s[i].fd >= 0 && (pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) {
				if (!drain(&s[i], &l)) {
					release(s[i].fd);
					s[i].fd = -1;
					open_streams--;
				}
			}
		}
		int exited = n > 0 && ((pfd[3].revents | pfd[4].revents) & (POLLIN | POLLHUP | POLLERR));
		int tick = n == 0 && wait_ms > 0;
		if (first || exited || tick || (n > 0 && (pfd[0].revents & POLLIN))) {
			struct signalfd_siginfo si;
			// poll said a signal is pending: the read is whole, or
			// interrupted (EINTR), and then poll asks again.
			if (n > 0 && (pfd[0].revents & POLLIN) && read(sfd, &si, sizeof(si)) != sizeof(si) && !exited)
				continue;
			int wst;
			pid_t p;
			while ((p = waitpid(-1, &wst, WNOHANG)) > 0) {
				if (p == init)
					code = status_code(wst);
				if (p == keeper)
					keeper_done = 1;
			}
		}
		first = 0;
	}
	if (code < 0)
		code = LEAN_EXIT_KILLED;
	// What is left (exit status, cgroup, network, --rm) is Go's job.
	char codes[16];
	int c = snprintf(codes, sizeof(codes), "%d", code);
	char *argv[] = {"usandbox-finish", codes, NULL};
	// Without its status or its role the finish step cannot run (a
	// 3-digit number always fits, and setenv fails only for want of
	// memory): exit with the status instead; it stays unrecorded, which
	// readers show as "exited (status unknown)".
	if (c < 0 || (size_t)c >= sizeof(codes) || setenv(LEAN_ROLE_ENV, LEAN_ROLE_FINISH, 1) < 0)
		_exit(code);
	execv("/proc/self/exe", argv);
	// The finish step did not run: the exit status stays unrecorded,
	// which readers show as "exited (status unknown)".
	_exit(code);
}

// read_config reads the Monitor frame from LEAN_CONFIG_FD into m.
static int read_config(struct lean_monitor *m) {
	char b[4 + LEAN_MAX_FRAME];
	size_t got = 0, want = 4;
	while (got < want) {
		ssize_t n = read(LEAN_CONFIG_FD, b + got, want - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
		if (got == 4) {
			size_t len = (size_t)(unsigned char)b[0] << 24 | (size_t)(unsigned char)b[1] << 16 |
				     (size_t)(unsigned char)b[2] << 8 | (unsigned char)b[3];
			if (len > LEAN_MAX_FRAME)
				return -1;
			want = 4 + len;
		}
	}
	return lean_parse_monitor(b + 4, want - 4, m);
}

__attribute__((constructor)) static void usandbox_lean(void) {
	const char *role = getenv(LEAN_ROLE_ENV);
	if (role == NULL || strcmp(role, LEAN_ROLE) != 0)
		return;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		_exit(LEAN_EXIT_FAILED);
	struct lean_monitor m;
	// Its stderr is /dev/null, and the monitor that exec'd it is gone:
	// there is nobody to tell. The sandbox ends as the lifeline closes,
	// its status unrecorded ("exited (status unknown)").
	if (read_config(&m) < 0)
		_exit(LEAN_EXIT_FAILED);
	// Only the name ps shows; PR_SET_NAME fails only for a bad pointer.
	(void)prctl(PR_SET_NAME, "usandbox-mon", 0, 0, 0);
	monitor_loop(&m);
	_exit(LEAN_EXIT_FAILED);
}
