package sigproxy

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestForwardsCaughtBeforeForward: a signal that arrives between Listen
// and Forward is passed on, not lost; one in Except is dropped.
func TestForwardsCaughtBeforeForward(t *testing.T) {
	p := Listen(syscall.SIGUSR1, syscall.SIGUSR2).Except(syscall.SIGUSR2)
	defer p.Stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	got := make(chan os.Signal, 4)
	time.Sleep(20 * time.Millisecond)
	p.Forward(func(s os.Signal) error { got <- s; return nil })
	select {
	case s := <-got:
		if s != syscall.SIGUSR1 {
			t.Fatalf("forwarded %v, want SIGUSR1 (SIGUSR2 is excepted)", s)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the signal caught before Forward was lost")
	}
	p.Stop()
	select {
	case s := <-got:
		t.Fatalf("forwarded %v after Stop or an excepted one", s)
	default:
	}
}
