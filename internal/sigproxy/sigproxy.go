// Package sigproxy passes the signals a process of usandbox receives on
// to the child that does the real work (the sandbox's init, an exec'd
// command, a copy of usandbox in a user namespace or a systemd scope), so
// that ^C, kill and a terminal's hangup reach the command as they would
// without usandbox in between. It is the one forwarding loop of the Go
// side; the sandbox's C init has its own (package nsexec).
package sigproxy

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Default are the signals usandbox forwards: those a user or a
// supervisor sends to stop, reload or poke a command. SIGWINCH is listed
// for children that have no terminal of their own to follow; a child with
// a pty gets the size from the terminal relay instead (see Except).
var Default = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH}

// Proxy catches signals from Listen on and forwards them once Forward
// names the target: a signal that arrives while the child is being
// started waits in the buffer instead of killing usandbox.
type Proxy struct {
	ch   chan os.Signal
	skip map[os.Signal]bool
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// Listen starts catching sigs (Default if none).
func Listen(sigs ...os.Signal) *Proxy {
	if len(sigs) == 0 {
		sigs = Default
	}
	p := &Proxy{ch: make(chan os.Signal, 16), done: make(chan struct{}), skip: map[os.Signal]bool{}}
	signal.Notify(p.ch, sigs...)
	return p
}

// Except makes the proxy drop sigs instead of forwarding them (SIGWINCH
// for a child whose pty the terminal relay resizes).
func (p *Proxy) Except(sigs ...os.Signal) *Proxy {
	for _, s := range sigs {
		p.skip[s] = true
	}
	return p
}

// Forward passes every signal caught, from now on and since Listen, to
// target until Stop. A failed delivery (the child is gone) is not an
// error of ours: the child's exit status tells the story.
func (p *Proxy) Forward(target func(os.Signal) error) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			select {
			case s := <-p.ch:
				if !p.skip[s] {
					_ = target(s)
				}
			case <-p.done:
				return
			}
		}
	}()
}

// Stop stops catching and forwarding, and returns once the forwarding
// loop has ended. Signals arrive with their default action again.
func (p *Proxy) Stop() {
	p.once.Do(func() {
		signal.Stop(p.ch)
		close(p.done)
	})
	p.wg.Wait()
}
