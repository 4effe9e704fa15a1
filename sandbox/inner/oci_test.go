package inner

import (
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseMountOptions(t *testing.T) {
	m, err := parseMountOptions([]string{"rbind", "ro", "rnosuid", "nodev", "rslave", "mode=755", "size=1k", "X-mount.mkdir", "strictatime", "sync"})
	if err != nil {
		t.Fatal(err)
	}
	want := mountOpts{
		attrs:    unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_STRICTATIME,
		recAttrs: unix.MOUNT_ATTR_NOSUID,
		prop:     unix.MS_SLAVE, recProp: true,
		data: []string{"mode=755", "size=1k", "sync"},
		bind: true, rbind: true,
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got %+v\nwant %+v", m, want)
	}
	for _, bad := range []string{"remount", "idmap", "tmpcopyup", "move"} {
		if _, err := parseMountOptions([]string{bad}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("option %q: error %v, want one naming it", bad, err)
		}
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	if got := unescapeMountinfo(`/a\040b\011c`); got != "/a b\tc" {
		t.Fatalf("got %q", got)
	}
}
