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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto_gen.h"

static int status_code(int st) {
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

static int signal_fd(void) {
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
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

static void log_rotate(struct logfile *l) {
	// The working directory is the sandbox's (see lean.go). If rotating
	// fails, the log goes on growing in the old file: better than losing
	// the output.
	if (rename(l->name, l->rotated) < 0)
		return;
	int fd = open(l->name, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (dup3(fd, l->fd, O_CLOEXEC) < 0) {
		close(fd);
		return;
	}
	close(fd);
	l->size = 0;
}

static void log_line(struct logfile *l, const char *stream, int full, const char *text, size_t n) {
	char head[96];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int h = snprintf(head, sizeof(head), "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ %s %s ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec, stream, full ? "F" : "P");
	if (l->max > 0 && l->size + h + (long long)n + 1 > l->max)
		log_rotate(l);
	// Whole line in one write: readers never see half of one.
	char *line = malloc(h + n + 1);
	if (line == NULL)
		return;
	memcpy(line, head, h);
	memcpy(line + h, text, n);
	line[h + n] = '\n';
	ssize_t w = write(l->fd, line, h + n + 1);
	if (w > 0)
		l->size += w;
	free(line);
}

// drain reads what s has and logs its complete lines; at eof, the rest.
static int drain(struct stream *s, struct logfile *l) {
	ssize_t n = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
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
	struct stat st;
	if (fstat(logfd, &st) == 0)
		l.size = st.st_size;
	struct stream s[2] = {{.fd = out, .name = "stdout"}, {.fd = errfd, .name = "stderr"}};
	int open_streams = (out >= 0) + (errfd >= 0);
	int sfd = signal_fd();
	if (sfd < 0)
		_exit(LEAN_EXIT_FAILED);
	int code = -1, keeper_done = keeper <= 0;
	// pidfds of the init and the keeper become readable when they exit,
	// whatever happened to the SIGCHLD (one that arrived before this
	// process blocked it is gone): each turn also asks them directly.
	int initfd = (int)syscall(SYS_pidfd_open, init, 0);
	int keeperfd = keeper > 0 ? (int)syscall(SYS_pidfd_open, keeper, 0) : -1;
	// Whatever died before this loop started is reaped on its first turn.
	int first = 1;
	while (code < 0 || !keeper_done || open_streams > 0) {
		struct pollfd pfd[5] = {{.fd = sfd, .events = POLLIN},
					{.fd = s[0].fd, .events = POLLIN},
					{.fd = s[1].fd, .events = POLLIN},
					{.fd = code < 0 ? initfd : -1, .events = POLLIN},
					{.fd = keeper_done ? -1 : keeperfd, .events = POLLIN}};
		// After the init is gone, only what is still buffered is read.
		int n = poll(pfd, 5, first ? 0 : (code < 0 || !keeper_done) ? -1 : 200);
		if (n < 0 && errno != EINTR)
			break;
		if (n == 0 && !first && code >= 0 && keeper_done)
			break;
		for (int i = 0; i < 2; i++) {
			if (s[i].fd >= 0 && (pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) {
				if (!drain(&s[i], &l)) {
					close(s[i].fd);
					s[i].fd = -1;
					open_streams--;
				}
			}
		}
		int exited = n > 0 && ((pfd[3].revents | pfd[4].revents) & (POLLIN | POLLHUP | POLLERR));
		if (first || exited || (n > 0 && (pfd[0].revents & POLLIN))) {
			struct signalfd_siginfo si;
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
	snprintf(codes, sizeof(codes), "%d", code);
	char *argv[] = {"usandbox-finish", codes, NULL};
	if (setenv(LEAN_ROLE_ENV, LEAN_ROLE_FINISH, 1) < 0)
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
	if (read_config(&m) < 0)
		_exit(LEAN_EXIT_FAILED);
	prctl(PR_SET_NAME, "usandbox-mon", 0, 0, 0);
	monitor_loop(&m);
	_exit(LEAN_EXIT_FAILED);
}
