package sandbox

import (
	"io"
	"os"
	"sync"
)

// relay gives a sandbox's command pipes for its stdio and copies them to
// and from usandbox's own: the sandbox never holds the caller's terminal
// or files (a process left behind could read what is typed at the shell
// afterwards, or reopen the file through /proc/self/fd).
type relay struct {
	// in, out and err are the child's ends, passed as its fds 0, 1, 2.
	in, out, err *os.File
	// outR, errR are ours, when nobody copies them (detached: the log).
	outR, errR *os.File
	wg         sync.WaitGroup
}

// newRelay makes the pipes. stdin nil gives the command an empty stdin
// (end of file at once); stdout or stderr nil leaves that pipe for the
// caller to read (takeOutputs) or, with a pty, unread and closed.
func newRelay(stdin io.Reader, stdout, stderr io.Writer) (*relay, error) {
	r := &relay{}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	r.in = inR
	if stdin == nil {
		inW.Close()
	} else {
		go func() {
			// Ends with stdin's end, or when the command closed its end.
			io.Copy(inW, stdin)
			inW.Close()
		}()
	}
	pipe := func(w io.Writer) (child, ours *os.File, err error) {
		pr, pw, err := os.Pipe()
		if err != nil {
			return nil, nil, err
		}
		if w == nil {
			return pw, pr, nil
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			io.Copy(w, pr)
			pr.Close()
		}()
		return pw, nil, nil
	}
	if r.out, r.outR, err = pipe(stdout); err != nil {
		r.closeChildEnds()
		return nil, err
	}
	if r.err, r.errR, err = pipe(stderr); err != nil {
		r.closeChildEnds()
		return nil, err
	}
	return r, nil
}

// takeOutputs hands the read ends of stdout and stderr to the caller.
func (r *relay) takeOutputs() (out, errOut *os.File) {
	out, errOut = r.outR, r.errR
	r.outR, r.errR = nil, nil
	return out, errOut
}

// closeChildEnds closes our copies of the child's ends, once the child has
// its own: the copies then end when the sandbox's processes close theirs.
func (r *relay) closeChildEnds() {
	for _, f := range []**os.File{&r.in, &r.out, &r.err} {
		if *f != nil {
			(*f).Close()
			*f = nil
		}
	}
}

// wait waits until the command's output is copied, and closes what
// nobody read.
func (r *relay) wait() {
	r.closeChildEnds()
	r.wg.Wait()
	for _, f := range []*os.File{r.outR, r.errR} {
		if f != nil {
			f.Close()
		}
	}
}
