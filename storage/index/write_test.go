package index

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// TestWriteConcurrent: the index is replaced whole: writers do not trip
// over each other's temporary file, and a reader sees one writer's index,
// never a mix or a cut.
func TestWriteConcurrent(t *testing.T) {
	p := Paths{Root: t.TempDir()}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				// Sizes differ, so that a mix of two writes shows.
				ix := &Index{Driver: "overlay"}
				for j := 0; j <= w; j++ {
					ix.Images = append(ix.Images, &Image{ID: fmt.Sprintf("%064d", j), Names: []string{fmt.Sprintf("w%d/%d", w, i)}})
				}
				if err := Write(p, ix); err != nil {
					errs <- err
					return
				}
				if _, err := Read(p); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if ents, _ := os.ReadDir(p.Root); len(ents) != 1 {
		t.Errorf("%d files in the root, want the index only", len(ents))
	}
}
