package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// DefaultLogMax caps a detached sandbox's log: past it, the log moves to
// ctr.log.1 (replacing the older one) and a new one starts.
const DefaultLogMax = 10 << 20

// RotatedLog is where the log at path moves when it is full (the lean
// monitor's C loop is told the same name).
func RotatedLog(path string) string { return path + ".1" }

// LogWriter writes a detached sandbox's output in the k8s-file format
// podman uses: "TIMESTAMP STREAM F|P TEXT" per line (P: a partial line,
// continued by the next entry).
type LogWriter struct {
	mu   sync.Mutex
	path string
	f    *os.File
	size int64
	max  int64
}

// NewLogWriter opens (appends to) the log at path.
func NewLogWriter(path string, max int64) (*LogWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &LogWriter{path: path, f: f, size: fi.Size(), max: max}, nil
}

// Copy logs what r gives as stream ("stdout" or "stderr") until EOF.
func (l *LogWriter) Copy(stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, 16<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			full := line[len(line)-1] == '\n'
			if full {
				line = line[:len(line)-1]
			}
			l.write(stream, full, line)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// Tee is a writer that passes what it is given on to dst and logs it as
// stream: each newline ends an entry, and what a write leaves after the
// last one is logged at once as a partial entry (conmon does the same), so
// the log never lags behind what the caller saw.
func (l *LogWriter) Tee(stream string, dst io.Writer) io.Writer {
	return &teeWriter{l: l, stream: stream, dst: dst}
}

type teeWriter struct {
	l      *LogWriter
	stream string
	dst    io.Writer
}

func (t *teeWriter) Write(p []byte) (int, error) {
	n, err := t.dst.Write(p)
	for rest := p[:n]; len(rest) > 0; {
		line, after, full := bytes.Cut(rest, []byte{'\n'})
		t.l.write(t.stream, full, line)
		rest = after
	}
	return n, err
}

func (l *LogWriter) write(stream string, full bool, text []byte) {
	tag := "P"
	if full {
		tag = "F"
	}
	var b bytes.Buffer
	b.WriteString(time.Now().UTC().Format(time.RFC3339Nano))
	b.WriteByte(' ')
	b.WriteString(stream)
	b.WriteByte(' ')
	b.WriteString(tag)
	b.WriteByte(' ')
	b.Write(text)
	b.WriteByte('\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return
	}
	if l.max > 0 && l.size+int64(b.Len()) > l.max {
		l.rotate()
	}
	n, _ := l.f.Write(b.Bytes())
	l.size += int64(n)
}

func (l *LogWriter) rotate() {
	l.f.Close()
	os.Rename(l.path, RotatedLog(l.path))
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		l.f = nil
		return
	}
	l.f, l.size = f, 0
}

// Close closes the log.
func (l *LogWriter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// LogEntry is one line of a log.
type LogEntry struct {
	Time    time.Time
	Stream  string
	Partial bool
	Text    string
}

// ParseLogLine parses one line of a log file.
func ParseLogLine(line string) (LogEntry, bool) {
	f := strings.SplitN(line, " ", 4)
	if len(f) < 3 {
		return LogEntry{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, f[0])
	if err != nil {
		return LogEntry{}, false
	}
	e := LogEntry{Time: t, Stream: f[1], Partial: f[2] == "P"}
	if len(f) == 4 {
		e.Text = f[3]
	}
	return e, true
}

// Fd is the log file's descriptor (for package lean's C loop, which
// appends the same format).
func (l *LogWriter) Fd() (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return -1, os.ErrClosed
	}
	return int(l.f.Fd()), nil
}
