package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLogWriter(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ctr.log")
	l, err := NewLogWriter(path, 200)
	if err != nil {
		t.Fatal(err)
	}
	l.Copy("stdout", strings.NewReader("one\ntwo\nno newline"))
	l.Copy("stderr", strings.NewReader("err\n"))
	b, _ := os.ReadFile(path)
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		e, ok := ParseLogLine(line)
		if !ok {
			t.Fatalf("unparsable %q", line)
		}
		got = append(got, e.Stream+":"+map[bool]string{true: "P", false: "F"}[e.Partial]+":"+e.Text)
	}
	want := "stdout:F:one stdout:F:two stdout:P:no newline stderr:F:err"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %v", got)
	}
	// Past the cap the log rotates.
	l.Copy("stdout", strings.NewReader(strings.Repeat("x", 50)+"\n"))
	l.Close()
	if _, err := os.Stat(path + ".1"); err != nil {
		t.Fatalf("no rotation: %v", err)
	}
	if fi, _ := os.Stat(path); fi.Size() > 200 {
		t.Fatalf("log over its cap: %d", fi.Size())
	}
}
