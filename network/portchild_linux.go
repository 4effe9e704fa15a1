package network

import (
	"fmt"
	"os"

	"github.com/rootless-containers/rootlesskit/v3/pkg/port/builtin"
	"golang.org/x/sys/unix"

	"usandbox/internal/wire"
)

// PortChildMain is the port driver's helper, in the sandbox's user and
// network namespaces: it dials the sandbox's ports for the parent side
// and hands the connections over. It ends when its parent does (conn
// closes).
func PortChildMain(conn *os.File) int {
	var opaque map[string]string
	if _, err := wire.Recv(conn, &opaque); err != nil {
		return 125
	}
	// The driver's socket, which the parent dials, is made by this
	// helper, root of the sandbox's user namespace: with --userns=keep-id
	// or --uidmap that is one of the user's sub-IDs, not the user, who
	// could not connect to a socket of mode 0755. It sits in the state
	// directory, 0700 and the user's, in the host's mount namespace:
	// nobody else can reach it.
	unix.Umask(0)
	quit := make(chan struct{})
	go func() {
		buf := make([]byte, 16)
		for {
			if _, err := conn.Read(buf); err != nil {
				close(quit)
				return
			}
		}
	}()
	if err := builtin.NewChildDriver(os.Stderr).RunChildDriver(opaque, quit, ""); err != nil {
		fmt.Fprintln(os.Stderr, "usandbox port helper:", err)
		return 125
	}
	return 0
}
