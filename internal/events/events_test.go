package events

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"
)

func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	for i, a := range []string{"create", "start", "die"} {
		if err := Write(dir, Event{Time: int64(i + 1), Type: "container", Action: a, ID: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	Read(context.Background(), dir, ReadOptions{Since: time.Unix(0, 2)}, func(ev Event) { got = append(got, ev.Action) })
	if len(got) != 2 || got[0] != "start" || got[1] != "die" {
		t.Fatalf("since: %v", got)
	}
}

func TestFollowAndRotation(t *testing.T) {
	dir := t.TempDir()
	Write(dir, Event{Type: "container", Action: "old", ID: "x"})
	// A full journal moves to .1 at the next write.
	f, _ := os.OpenFile(Path(dir), os.O_WRONLY|os.O_APPEND, 0)
	pad := make([]byte, maxSize)
	for i := range pad {
		pad[i] = ' '
	}
	f.Write(append(pad, '\n'))
	f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var got []string
	done := make(chan struct{})
	go func() {
		Read(ctx, dir, ReadOptions{Follow: true, Poll: 5 * time.Millisecond}, func(ev Event) {
			mu.Lock()
			got = append(got, ev.Action)
			mu.Unlock()
		})
		close(done)
	}()
	time.Sleep(20 * time.Millisecond)
	Write(dir, Event{Type: "container", Action: "new", ID: "x"})
	Write(dir, Event{Type: "container", Action: "newer", ID: "x"})
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if len(got) != 3 || got[0] != "old" || got[2] != "newer" {
		t.Fatalf("follow across a rotation: %v", got)
	}
	if _, err := os.Stat(Path(dir) + ".1"); err != nil {
		t.Fatalf("no rotation: %v", err)
	}
}
