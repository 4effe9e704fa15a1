// nsmk: the one step a shell cannot do for the netspike experiments.
// It forks; the child unshares a user namespace (and a network namespace,
// and with -m a mount namespace) and waits; the parent writes the child's
// ID maps, then the child execs the command as root of the new namespace.
//
//   nsmk -H [-m] -- CMD...   the maps come from newuidmap/newgidmap:
//                            0 -> our uid, 1..65536 -> our subordinate range
//                            (the "network user namespace" of a store)
//   nsmk    [-m] -- CMD...   the parent is root of the user namespace we are
//                            in (joined with nsenter): it writes an identity
//                            map "0 0 65537" itself, no newuidmap: a member's
//                            user namespace, a child of the network's.
//   -N: no new network namespace (user namespace only).
// This is what nsexec's C stage would do (setns into the holder's user
// namespace first, then this).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <pwd.h>

static void die(const char *m) { perror(m); _exit(125); }

static void writef(const char *path, const char *s) {
	int fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s)) die(path);
	close(fd);
}

static int subid(const char *file, const char *user, long *start, long *count) {
	FILE *f = fopen(file, "r");
	char line[256];
	if (!f) return -1;
	while (fgets(line, sizeof line, f)) {
		char *u = strtok(line, ":"), *s = strtok(NULL, ":"), *c = strtok(NULL, ":\n");
		if (u && s && c && strcmp(u, user) == 0) { *start = atol(s); *count = atol(c); fclose(f); return 0; }
	}
	fclose(f);
	return -1;
}

int main(int argc, char **argv) {
	int host = 0, mnt = 0, net = 1, o;
	while ((o = getopt(argc, argv, "+HmN")) != -1) {
		if (o == 'H') host = 1; else if (o == 'm') mnt = 1; else if (o == 'N') net = 0; else return 125;
	}
	if (optind >= argc) { fprintf(stderr, "usage: nsmk [-H] [-m] [-N] -- CMD...\n"); return 125; }
	int p1[2], p2[2];
	if (pipe(p1) < 0 || pipe(p2) < 0) die("pipe");
	uid_t uid = getuid(); gid_t gid = getgid();
	pid_t pid = fork();
	if (pid < 0) die("fork");
	if (pid == 0) {
		char c;
		int fl = CLONE_NEWUSER | (net ? CLONE_NEWNET : 0) | (mnt ? CLONE_NEWNS : 0);
		if (unshare(fl) < 0) die("unshare");
		if (write(p1[1], "u", 1) != 1) die("write");
		if (read(p2[0], &c, 1) != 1) _exit(125);
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) die("setresuid");
		execvp(argv[optind], argv + optind);
		die("exec");
	}
	char c, path[64];
	if (read(p1[0], &c, 1) != 1) die("child");
	if (host) {
		struct passwd *pw = getpwuid(uid);
		long us, uc, gs, gc;
		if (!pw || subid("/etc/subuid", pw->pw_name, &us, &uc) || subid("/etc/subgid", pw->pw_name, &gs, &gc)) die("subid");
		char cmd[512];
		snprintf(cmd, sizeof cmd, "newuidmap %d 0 %u 1 1 %ld %ld && newgidmap %d 0 %u 1 1 %ld %ld", pid, uid, us, uc, pid, gid, gs, gc);
		if (system(cmd) != 0) die("newuidmap");
	} else {
		snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
		writef(path, "0 0 1\n1 1 65536\n");
		snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
		writef(path, "0 0 1\n1 1 65536\n");
	}
	if (write(p2[1], "g", 1) != 1) die("write");
	int st;
	if (waitpid(pid, &st, 0) < 0) die("waitpid");
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
