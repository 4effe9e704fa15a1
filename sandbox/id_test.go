package sandbox

import (
	"bytes"
	"strings"
	"testing"
)

// An ID whose short form (the hostname) is all decimal digits is never
// handed out: glibc takes such a name for a numeric address and does not
// look it up in /etc/hosts, so `hostname -i` fails in the sandbox (moby's
// stringid skips those too). CI hit it once in ~280 runs.
func TestNewIDShortFormNotNumeric(t *testing.T) {
	digits := bytes.Repeat([]byte{0x12}, 32) // hex "1212…": all digits
	other := bytes.Repeat([]byte{0xab}, 32)
	id, err := newIDFrom(bytes.NewReader(append(digits, other...)))
	if err != nil {
		t.Fatal(err)
	}
	if id != strings.Repeat("ab", 32) {
		t.Fatalf("newID = %s, want the second draw (the first has a numeric short form)", id)
	}
}
