// Package bypass is socket bypass for a sandbox on a user-mode network
// (--network slirp4netns:bypass=true, pasta:bypass=true): the sandbox's
// TCP connections to destinations outside it, and its listeners on
// published TCP ports, use sockets of the host's network namespace, so
// their traffic skips the user-mode TCP/IP stack and the port driver.
//
// # How
//
// The sandbox's setup ([Install], just before the command's execve)
// installs two things on the command, which everything it runs inherits:
//
//   - A Landlock domain that denies every TCP connect(2) and bind(2) of
//     the sandbox's processes themselves, in any network namespace.
//   - A seccomp filter that sends connect, bind and listen (all ABIs) to
//     a user-space listener, refuses TCP Fast Open sends (MSG_FASTOPEN,
//     which connects without connect(2)), refuses io_uring, and refuses
//     the few 32-bit socketcall(2) sends whose flags live in memory.
//
// The listener fd goes to the sandbox's monitor, on the host, whose
// [Handler] answers each call. For a TCP socket it never lets the call
// continue: it takes its own copy of the socket (pidfd_getfd) and of the
// address (process_vm_readv, once), decides, and performs the call
// itself. A destination outside the sandbox (not loopback, not the
// sandbox's network, IPv4) gets a new socket made in the host's network
// namespace, connected there, and put in place of the sandbox's
// (SECCOMP_IOCTL_NOTIF_ADDFD); everything else is connected on the
// sandbox's own socket, in the sandbox's network namespace. A bind to a
// published TCP port gets the host socket the monitor reserved on the
// published address at start. Calls on other sockets (UDP, unix) continue
// in the kernel unchanged: their address is re-read from memory then,
// but a race that swaps in a host socket meets Landlock (TCP connect and
// bind refused) and can at most disconnect it (AF_UNSPEC), which leaves a
// socket that can do nothing: listen is always performed by the handler,
// and Fast Open is refused.
//
// # What it never grants
//
// A sandbox with bypass reaches nothing it could not reach without it:
// the host's loopback is reached through the sandbox's network only
// (10.0.2.2 with allow_host_loopback=true), never through a host socket;
// it listens on the host only on the addresses it published; UDP, ICMP,
// IPv6 and DNS stay on the user-mode stack. The handler checks a bind to
// a port below 1024 against the caller's CAP_NET_BIND_SERVICE, as the
// kernel would have (it performs the bind with its own credentials).
//
// If the monitor dies, the listener closes and every trapped call fails
// with ENOSYS; the sandbox is killed through its lifeline anyway.
//
// # Costs and limits
//
// A connect, bind or listen costs a round trip to the monitor; data never
// does. A unix socket that listens is made to listen by the monitor, so a
// client's SO_PEERCRED of such a server shows the monitor (pid 0, the
// user's ID as the sandbox maps it), not the server. 32-bit x86 programs
// cannot use socketcall's sendto/sendmsg/sendmmsg (ENOSYS); the x32 ABI's
// socket calls are refused. UDP is not bypassed: a host UDP socket could
// be sent to any address by sendmsg, whose address is in memory, and
// every sendmsg (unix sockets' too) would have to be trapped.
package bypass
