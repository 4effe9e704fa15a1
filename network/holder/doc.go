// Package holder runs usandbox's user-defined networks without a daemon:
// one process, the holder, exists while some network has a member, and
// holds every running network of the store.
//
// # Namespaces
//
// The holder runs in the networks' user namespace, U_net, which it
// makes at its start (mapped with newuidmap/newgidmap over the store's ID
// range, as a sandbox's), and stays in the host's network and mount
// namespaces. Each running network is a network namespace that the holder
// made and holds by fd (owned by U_net): a bridge with the gateway's
// address, nftables NAT to the network's one user-mode stack
// (slirp4netns, in U_net and the host's network namespace, ended through
// its --exit-fd when the holder closes it or dies), and the network's
// resolver (package network/dnsd) on the gateway's port 53.
//
// A member sandbox's user namespace is a child of U_net: nsexec's C stage
// enters U_net through the holder's pidfd, where the user is root, and
// makes the sandbox's user namespace there, mapped by the identity of
// U_net's extents (no newuidmap). Its network namespace is its own (owned
// by its user namespace). The holder, root of the parent, plugs it in:
// one veth per network, the host side on the bridge, the other in the
// member as eth0, eth1…, all by netlink (package network/link). A
// member's root has no capability over U_net, the networks' namespaces,
// the holder or another member. Two networks are two namespaces: no
// route joins them, and each network's forward chain drops traffic to the
// other running networks' subnets.
//
// # Processes and files
//
// State lives in RunRoot/networks (private to the user): the lock, the
// holder's socket (holder.sock), its pid (holder.json), its log
// (holder.log), and the members (members.json, written on each change,
// for the commands that do not ask the holder). The configurations are
// package network/netconf's, in the data root.
//
// # Concurrency
//
// One flock, RunRoot/networks/lock, decides whether a holder exists and
// whether it may go. A client (run, start, restart) takes it, connects to
// the socket or, when that fails, removes the stale socket and starts a
// holder, sends Reserve with its own pidfd, and releases the lock as soon
// as the reply is in: the lock is held for one round trip (or a holder's
// start), never while a sandbox starts. The holder serializes requests
// under its mutex: two joins at once get distinct addresses; a network
// starts on the first reservation and stops when its last member or
// reservation goes. A reservation lasts until Attach, and is dropped when
// the client's session closes or its pidfd fires (the client died, kill
// -9 included). An attached member lives as long as its init: the holder
// polls the init's pidfd and drops the member's names and address the
// moment it exits, however; the veth goes with the member's namespace.
//
// The holder exits when it has had no member and no reservation: it
// takes the lock (in a goroutine, never blocking its requests), looks
// again, stops the networks, removes its socket and files and exits with
// the lock held, which the kernel releases. A client that comes in
// meanwhile waits for the lock, finds no socket, and starts a new holder.
// The lock's fd is close-on-exec everywhere: a holder that inherited it
// would hold it forever.
//
// # kill -9
//
// Of a member: its init's pidfd fires; it leaves. Of a client mid-join:
// its pidfd fires or its session closes; its reservation goes, its
// half-started sandbox ends with its lifeline. Of a client holding the
// lock: the kernel releases it. Of the holder: every network's namespace
// goes with it (its fds were the only references), slirp4netns ends on
// its exit fd, the members keep only their loopback until the next join
// (or network connect): it finds no holder but live members in
// members.json (pid and start time of each init), starts the new holder
// in the same U_net (the parent of a live member's user namespace,
// NS_GET_PARENT), and that holder plugs them in again at their old
// addresses, with their names, before it answers anybody (see adopt).
// With no live member left, what the killed holder left is removed by
// the next network command (Reap).
package holder
