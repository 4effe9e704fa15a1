package inner

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMountOptions(t *testing.T) {
	for _, tt := range []struct {
		in    string
		opts  []string
		attrs int
	}{
		{"", nil, 0},
		{"size=1m,mode=1777", []string{"size=1m", "mode=1777"}, 0},
		{"ro,noexec,size=64m", []string{"size=64m"}, unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOEXEC},
		{"rw,nosuid,nodev,exec", nil, unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV},
		{"uid=1000,gid=1000,noatime", []string{"uid=1000", "gid=1000"}, unix.MOUNT_ATTR_NOATIME},
	} {
		opts, attrs, err := mountOptions(tt.in)
		if err != nil || !slices.Equal(opts, tt.opts) || attrs != tt.attrs {
			t.Errorf("mountOptions(%q) = %q, %#x, %v; want %q, %#x", tt.in, opts, attrs, err, tt.opts, tt.attrs)
		}
	}
}
