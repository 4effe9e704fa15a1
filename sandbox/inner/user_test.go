package inner

import (
	"reflect"
	"strings"
	"testing"
)

const passwd = `root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
user:x:1000:1000::/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
broken line
`

const group = `root:x:0:
users:x:100:user,daemon
user:x:1000:
audio:x:29:user
nogroup:x:65534:
`

func TestResolveUser(t *testing.T) {
	tests := []struct {
		spec string
		want *execUser
		err  string
	}{
		{"", &execUser{UID: 0, GID: 0, Home: "/root"}, ""},
		{"root", &execUser{UID: 0, GID: 0, Home: "/root"}, ""},
		{"user", &execUser{UID: 1000, GID: 1000, Home: "/home/user", Groups: []uint32{100, 29}}, ""},
		{"1000", &execUser{UID: 1000, GID: 1000, Home: "/home/user", Groups: []uint32{100, 29}}, ""},
		{"1000:1000", &execUser{UID: 1000, GID: 1000, Home: "/home/user", Groups: []uint32{100, 29}}, ""},
		{"user:audio", &execUser{UID: 1000, GID: 29, Home: "/home/user", Groups: []uint32{100}}, ""},
		{"4242", &execUser{UID: 4242, GID: 0, Home: "/"}, ""},
		{"4242:4243", &execUser{UID: 4242, GID: 4243, Home: "/"}, ""},
		{"nobody", &execUser{UID: 65534, GID: 65534, Home: "/nonexistent"}, ""},
		{"user:29", &execUser{UID: 1000, GID: 29, Home: "/home/user", Groups: []uint32{100}}, ""},
		{"root:1000", &execUser{UID: 0, GID: 1000, Home: "/root"}, ""},
		{":audio", &execUser{UID: 0, GID: 29, Home: "/root"}, ""},
		{"daemon", &execUser{UID: 1, GID: 1, Home: "/usr/sbin", Groups: []uint32{100}}, ""},
		{"ghost", nil, "unable to find user ghost"},
		{"user:ghosts", nil, "unable to find group ghosts"},
	}
	for _, tt := range tests {
		got, err := resolveUser(tt.spec, strings.NewReader(passwd), strings.NewReader(group))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.spec, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %+v, %v; want %+v", tt.spec, got, err, tt.want)
		}
	}
}
