package inner

import (
	"bytes"
	"io"
	"strings"

	"github.com/moby/sys/user"
)

// execUser is who the command runs as.
type execUser struct {
	UID, GID uint32
	Groups   []uint32
	Home     string
}

// resolveUser works out "user[:group]" (names or numbers) against the
// sandbox's passwd and group files with moby/sys/user, as docker does: a
// name must exist, a number need not; a user found in passwd also gets the
// groups that list it, less its primary group. Unlike moby/sys/user, those
// groups are kept when a group is given too ("user:audio").
func resolveUser(spec string, passwd, group io.Reader) (*execUser, error) {
	// Read once: a "user:group" spec is looked up twice.
	pw, err := io.ReadAll(passwd)
	if err != nil {
		return nil, err
	}
	gr, err := io.ReadAll(group)
	if err != nil {
		return nil, err
	}
	lookup := func(spec string) (*user.ExecUser, error) {
		return user.GetExecUser(spec, &user.ExecUser{Home: "/"}, bytes.NewReader(pw), bytes.NewReader(gr))
	}
	eu, err := lookup(spec)
	if err != nil {
		return nil, err
	}
	sgids := eu.Sgids
	if name, _, hasGroup := strings.Cut(spec, ":"); hasGroup {
		// moby/sys/user gives supplementary groups only without a group.
		withoutGroup, err := lookup(name)
		if err != nil {
			return nil, err
		}
		sgids = withoutGroup.Sgids
	}
	u := &execUser{UID: uint32(eu.Uid), GID: uint32(eu.Gid), Home: eu.Home}
	if u.Home == "" {
		u.Home = "/"
	}
	seen := map[uint32]bool{u.GID: true}
	for _, g := range sgids {
		if !seen[uint32(g)] {
			seen[uint32(g)] = true
			u.Groups = append(u.Groups, uint32(g))
		}
	}
	return u, nil
}
