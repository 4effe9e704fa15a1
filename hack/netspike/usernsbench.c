// usernsbench HOLDER_PID N: the cost of making a sandbox's user+net
// namespaces, per iteration, without exec noise:
//  child:   fork; setns(the holder's user namespace); fork a mapper that
//           stays there; unshare(USER|NET); the mapper writes the identity
//           map (one line per extent of the parent's); done  (issue 13's path)
//  newuid:  fork; unshare(USER|NET); the parent runs newuidmap and
//           newgidmap (fork+exec, as usandbox's Go parent does today)
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }
static void w(const char *p, const char *s) { int fd = open(p, O_WRONLY); if (fd < 0 || write(fd, s, strlen(s)) < 0) { perror(p); _exit(1); } close(fd); }
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }
int main(int argc, char **argv) {
	int n = atoi(argv[2]); char path[64]; snprintf(path, sizeof path, "/proc/%s/ns/user", argv[1]);
	int ufd = open(path, O_RDONLY); if (ufd < 0) { perror(path); return 1; }
	double *t = calloc(n, sizeof *t);
	for (int mode = 0; mode < 2; mode++) {
		for (int i = 0; i < n; i++) {
			double t0 = now(); int p1[2], p2[2]; pipe(p1); pipe(p2);
			pid_t c = fork();
			if (c == 0) {
				char ch;
				if (mode == 0) {
					if (setns(ufd, CLONE_NEWUSER) < 0) { perror("setns"); _exit(1); }
					pid_t me = getpid(), m = fork();
					if (m == 0) {
						char f[64]; read(p1[0], &ch, 1);
						snprintf(f, sizeof f, "/proc/%d/uid_map", me); w(f, "0 0 1\n1 1 65536\n");
						snprintf(f, sizeof f, "/proc/%d/gid_map", me); w(f, "0 0 1\n1 1 65536\n");
						_exit(0);
					}
					if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0) { perror("unshare"); _exit(1); }
					write(p1[1], "u", 1); int st; waitpid(m, &st, 0); _exit(st);
				}
				if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0) { perror("unshare"); _exit(1); }
				write(p1[1], "u", 1); read(p2[0], &ch, 1); _exit(0);
			}
			if (mode == 1) {
				char ch, a[32]; read(p1[0], &ch, 1); snprintf(a, sizeof a, "%d", c);
				char uid[16], gid[16]; snprintf(uid, sizeof uid, "%d", getuid()); snprintf(gid, sizeof gid, "%d", getgid());
				const char *tool[2] = {"newuidmap", "newgidmap"}; const char *id[2] = {uid, gid};
				for (int k = 0; k < 2; k++) {
					pid_t e = fork();
					if (e == 0) { execlp(tool[k], tool[k], a, "0", id[k], "1", "1", "100000", "65536", (char *)0); _exit(127); }
					int st; waitpid(e, &st, 0); if (st) { fprintf(stderr, "%s failed\n", tool[k]); return 1; }
				}
				write(p2[1], "g", 1);
			}
			int st; waitpid(c, &st, 0); if (st) { fprintf(stderr, "child failed %d\n", st); return 1; }
			t[i] = now() - t0; close(p1[0]); close(p1[1]); close(p2[0]); close(p2[1]);
		}
		qsort(t, n, sizeof *t, cmp);
		printf("%s: median %.3f ms over %d\n", mode ? "host child + newuidmap/newgidmap (today)" : "child of the network userns, in-process map", t[n / 2], n);
	}
	return 0;
}
