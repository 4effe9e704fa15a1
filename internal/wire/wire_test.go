package wire

import (
	"io"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSendRecv(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	defer a.Close()
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type spec struct {
		ID   string
		Args []string
	}
	type message struct{ Kind string }
	in := spec{ID: "x", Args: []string{"sh", "-c", "echo 'a b'"}}
	if err := Send(a, in); err != nil {
		t.Fatal(err)
	}
	if err := Send(a, message{Kind: "pty"}, int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	var out spec
	if fds, err := Recv(b, &out); err != nil || len(fds) != 0 {
		t.Fatal(fds, err)
	}
	if out.ID != "x" || len(out.Args) != 3 || out.Args[2] != "echo 'a b'" {
		t.Fatalf("got %+v", out)
	}
	var m message
	got, err := Recv(b, &m)
	if err != nil || len(got) != 1 || m.Kind != "pty" {
		t.Fatalf("%v %v %+v", got, err, m)
	}
	var st unix.Stat_t
	if err := unix.Fstat(got[0], &st); err != nil || st.Rdev != unix.Mkdev(1, 3) {
		t.Fatalf("passed fd is not /dev/null: %v", err)
	}
	a.Close()
	if _, err := Recv(b, &m); err != io.EOF {
		t.Fatalf("after close: %v", err)
	}
}

func TestEncodeReadWrite(t *testing.T) {
	type message struct {
		Kind string `json:"kind"`
		Pid  int32  `json:"pid"`
	}
	frame, err := Encode(message{Kind: "map-me", Pid: 42})
	if err != nil {
		t.Fatal(err)
	}
	if want := "\x00\x00\x00\x1a" + `{"kind":"map-me","pid":42}`; string(frame) != want {
		t.Fatalf("frame %q, want %q", frame, want)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := Write(w, message{Kind: "mapped"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(frame[:6]); err != nil { // a frame cut short
		t.Fatal(err)
	}
	w.Close()
	var m message
	if err := Read(r, &m); err != nil || m.Kind != "mapped" {
		t.Fatalf("%v %+v", err, m)
	}
	if err := Read(r, &m); err == nil || err == io.EOF {
		t.Fatalf("a cut frame read as %v", err)
	}
	if err := Read(r, &m); err != io.EOF {
		t.Fatalf("at the end: %v", err)
	}
}
