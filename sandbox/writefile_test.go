package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestWriteFileAtomic: concurrent writers of one record each replace it
// whole; none fails for another's temporary file, and no temporary file is
// left.
func TestWriteFileAtomic(t *testing.T) {
	for name, write := range map[string]func(string, []byte) error{"record": writeFileAtomic, "run state": writeRunState} {
		t.Run(name, func(t *testing.T) { testAtomicWrites(t, write) })
	}
}

func testAtomicWrites(t *testing.T, writeFileAtomic func(string, []byte) error) {
	dir := t.TempDir()
	path := filepath.Join(dir, configFile)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20 && errs[w] == nil; i++ {
				errs[w] = writeFileAtomic(path, []byte(strings.Repeat(fmt.Sprint(w), 100*(w+1))))
			}
		}()
	}
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", w, err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if w := int(b[0] - '0'); len(b) != 100*(w+1) || strings.Trim(string(b), string(b[0])) != "" {
		t.Errorf("the record is no one writer's: %d bytes starting %q", len(b), b[:1])
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v; want 0600", st.Mode(), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d files left, want the record only", len(ents))
	}
}
