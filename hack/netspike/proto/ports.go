package main

// netspike ports STATEDIR HOSTPORT CHILDPORT MEMBERPID: rootlesskit v3's
// builtin port driver with its parent here (the host) and its child in a
// network member's user+net namespaces (nsenter from the host, as nsexec
// would join the member's keeper), to see that -p on a member works and
// keeps the client's source address. Serves until killed.
//
// netspike portchild OPAQUE_JSON: the child side.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"github.com/rootless-containers/rootlesskit/v3/pkg/port"
	"github.com/rootless-containers/rootlesskit/v3/pkg/port/builtin"
)

func ports(stateDir, hostPort, childPort, pid string) error {
	pd, err := builtin.NewParentDriver(os.Stderr, stateDir, true, "auto")
	if err != nil {
		return err
	}
	op, _ := json.Marshal(pd.OpaqueForChild())
	self, _ := os.Executable()
	child := exec.Command("nsenter", "-U", "-n", "-t", pid, "--", self, "portchild", string(op))
	child.Stdout, child.Stderr = os.Stderr, os.Stderr
	if err := child.Start(); err != nil {
		return err
	}
	defer child.Process.Kill()
	ready, quit, errc := make(chan struct{}, 1), make(chan struct{}), make(chan error, 1)
	go func() { errc <- pd.RunParentDriver(ready, quit, nil) }()
	select {
	case <-ready:
	case err := <-errc:
		return err
	}
	hp, _ := strconv.Atoi(hostPort)
	cp, _ := strconv.Atoi(childPort)
	if _, err := pd.AddPort(context.Background(), port.Spec{Proto: "tcp", ParentIP: "0.0.0.0", ParentPort: hp, ChildPort: cp}); err != nil {
		return err
	}
	fmt.Println("published", hostPort, "->", childPort)
	return child.Wait()
}

func portchild(opaqueJSON string) error {
	var opaque map[string]string
	if err := json.Unmarshal([]byte(opaqueJSON), &opaque); err != nil {
		return err
	}
	return builtin.NewChildDriver(os.Stderr).RunChildDriver(opaque, make(chan struct{}), "")
}
