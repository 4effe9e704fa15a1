package inner

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// execUser is who the command runs as.
type execUser struct {
	UID, GID uint32
	Groups   []uint32
	Home     string
}

type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

func parsePasswd(r io.Reader) []passwdEntry {
	var out []passwdEntry
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 7 || strings.HasPrefix(f[0], "#") {
			continue
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, passwdEntry{f[0], uint32(uid), uint32(gid), f[5]})
	}
	return out
}

func parseGroup(r io.Reader) []groupEntry {
	var out []groupEntry
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 4 || strings.HasPrefix(f[0], "#") {
			continue
		}
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		var members []string
		if f[3] != "" {
			members = strings.Split(f[3], ",")
		}
		out = append(out, groupEntry{f[0], uint32(gid), members})
	}
	return out
}

// resolveUser works out "user[:group]" (names or numbers) against the
// sandbox's passwd and group files, as docker does: a name must exist, a
// number need not; a user found by name also gets the groups that list it.
func resolveUser(spec string, passwd, group io.Reader) (*execUser, error) {
	users := parsePasswd(passwd)
	groups := parseGroup(group)
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	u := &execUser{Home: "/"}
	var found *passwdEntry
	if userPart == "" {
		userPart = "0"
	}
	if n, err := strconv.ParseUint(userPart, 10, 32); err == nil {
		u.UID = uint32(n)
		for i := range users {
			if users[i].uid == u.UID {
				found = &users[i]
				break
			}
		}
	} else {
		for i := range users {
			if users[i].name == userPart {
				found = &users[i]
				break
			}
		}
		if found == nil {
			return nil, fmt.Errorf("unable to find user %s: no matching entries in passwd file", userPart)
		}
		u.UID = found.uid
	}
	if found != nil {
		u.GID, u.Home = found.gid, found.home
		if u.Home == "" {
			u.Home = "/"
		}
	}
	if hasGroup {
		if n, err := strconv.ParseUint(groupPart, 10, 32); err == nil {
			u.GID = uint32(n)
		} else {
			ok := false
			for _, g := range groups {
				if g.name == groupPart {
					u.GID, ok = g.gid, true
					break
				}
			}
			if !ok {
				return nil, fmt.Errorf("unable to find group %s: no matching entries in group file", groupPart)
			}
		}
	}
	if found != nil {
		seen := map[uint32]bool{u.GID: true}
		for _, g := range groups {
			for _, m := range g.members {
				if m == found.name && !seen[g.gid] {
					seen[g.gid] = true
					u.Groups = append(u.Groups, g.gid)
				}
			}
		}
	}
	return u, nil
}
