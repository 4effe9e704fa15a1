package lifecycle

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestParseStat(t *testing.T) {
	for _, c := range []struct {
		in   string
		want procStat
		bad  bool
	}{
		{in: "42 (sleep) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 12345 2322432 120 18446744073709551615",
			want: procStat{state: "S", ppid: 1, pgid: 42, tty: 0, utime: 7, stime: 3, nice: 0, start: 12345, vsize: 2322432}},
		// A command name with spaces and a parenthesis.
		{in: "7 (a b) c) R 2 7 7 34816 7 0 0 0 0 0 1 1 0 0 20 5 1 0 99 4096 1 0",
			want: procStat{state: "R", ppid: 2, pgid: 7, tty: 34816, utime: 1, stime: 1, nice: 5, start: 99, vsize: 4096}},
		{in: "7 (x) S 1", bad: true},
		{in: "garbage", bad: true},
	} {
		got, err := parseStat([]byte(c.in))
		if (err != nil) != c.bad || (!c.bad && got != c.want) {
			t.Errorf("parseStat(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func TestParseStatusAndMapID(t *testing.T) {
	uid, gid, nspid := parseStatus([]byte("Name:\tsleep\nUid:\t1001\t1001\t1001\t1001\nGid:\t100010\t100010\t100010\t100010\nNSpid:\t18178\t2\n"))
	if uid != 1001 || gid != 100010 || !slices.Equal(nspid, []int{18178, 2}) {
		t.Fatalf("parseStatus: %d %d %v", uid, gid, nspid)
	}
	m := []byte("         0       1001          1\n         1     100000      65536\n")
	for _, c := range []struct{ host, want int }{{1001, 0}, {100000, 1}, {100009, 10}, {165535, 65536}, {165536, -1}, {5, -1}} {
		if got := mapID(m, c.host); got != c.want {
			t.Errorf("mapID(%d) = %d, want %d", c.host, got, c.want)
		}
	}
}

func TestTTYName(t *testing.T) {
	for nr, want := range map[int]string{0: "?", 34816: "pts/0", 34819: "pts/3", 1025: "4:1"} {
		if got := ttyName(nr); got != want {
			t.Errorf("ttyName(%d) = %q, want %q", nr, got, want)
		}
	}
}

func TestParseTopDescriptors(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want []string
		bad  bool
	}{
		{nil, DefaultTopDescriptors, false},
		{[]string{"pid", "args"}, []string{"pid", "args"}, false},
		{[]string{"pid,user", "comm"}, []string{"pid", "user", "comm"}, false},
		{[]string{"-eo", "pid"}, nil, true},
		{[]string{"bogus"}, nil, true},
	} {
		got, err := ParseTopDescriptors(c.in)
		if (err != nil) != c.bad || !slices.Equal(got, c.want) {
			t.Errorf("ParseTopDescriptors(%q) = %q, %v", c.in, got, err)
		}
		if c.bad && !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseTopDescriptors(%q): %v is not ErrInvalid", c.in, err)
		}
	}
}

func TestNetBytes(t *testing.T) {
	dev := `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
   tap0:    2000      20    0    0    0     0          0         0      300       3    0    0    0     0       0          0
`
	if rx, tx := netBytes([]byte(dev)); rx != 2000 || tx != 300 {
		t.Fatalf("netBytes: %d %d", rx, tx)
	}
}

// TestUpperChanges: an upper layer with fuse-overlayfs' whiteouts (the
// kernel's 0/0 devices need privileges to make), an opaque marker, and
// usandbox's own mount points, which are not listed.
func TestUpperChanges(t *testing.T) {
	dir := t.TempDir()
	lower, upper := filepath.Join(dir, "lower"), filepath.Join(dir, "upper")
	mk := func(root string, files ...string) {
		for _, f := range files {
			p := filepath.Join(root, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk(lower, "bin/ls", "bin/sh", "etc/passwd", "opq/old")
	mk(upper, "bin/.wh.ls", "etc/passwd", "new", "etc/hosts", "run/.containerenv", "opq/.wh..wh..opq", "opq/x")
	// A symlink in the lower layer must not send the check outside it.
	if err := os.Symlink("/", filepath.Join(lower, "escape")); err != nil {
		t.Fatal(err)
	}
	mk(upper, "escape/tmp")
	got, err := upperChanges(upper, []string{lower})
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{{"C", "/bin"}, {"D", "/bin/ls"}, {"C", "/escape"}, {"A", "/escape/tmp"}, {"C", "/etc"}, {"C", "/etc/passwd"}, {"A", "/new"}, {"C", "/opq"}, {"A", "/opq/x"}}
	if !slices.Equal(got, want) {
		t.Fatalf("upperChanges:\n got %v\nwant %v", got, want)
	}
}
