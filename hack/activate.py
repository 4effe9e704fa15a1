#!/usr/bin/env python3
"""activate.py SOCK N CMD...: socket activation, timed, as systemd does it.

N times: listen on the unix socket SOCK, start CMD with it as fd 3
(LISTEN_FDS=1, LISTEN_PID its pid), send GET /_ping at once, and time
from the start of CMD to the answer; print the median in seconds. CMD
must exit when idle (usandbox system service --time 1).
"""
import os, socket, statistics, subprocess, sys, time

sock, n, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
times = []
for _ in range(n):
    if os.path.exists(sock):
        os.unlink(sock)
    l = socket.socket(socket.AF_UNIX)
    l.bind(sock)
    l.listen(16)
    t0 = time.monotonic()
    fd = l.fileno()
    move = "" if fd == 3 else "exec 3<&%d %d<&-; " % (fd, fd)
    p = subprocess.Popen(["sh", "-c", move + 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"'] + cmd,
                         pass_fds=(fd,), stdout=subprocess.DEVNULL)
    c = socket.socket(socket.AF_UNIX)
    c.connect(sock)
    c.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
    data = b""
    while b"OK" not in data:
        d = c.recv(4096)
        if not d:
            break
        data += d
    t1 = time.monotonic()
    c.close()
    l.close()
    if b"OK" not in data:
        sys.exit("activate.py: no answer: %r" % data)
    times.append(t1 - t0)
    p.wait(timeout=30)
print("%.4f" % statistics.median(times))
