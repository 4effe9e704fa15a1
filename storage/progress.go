package storage

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/docker/go-units"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"go.podman.io/image/v5/types"

	"usandbox/storage/index"
)

// Progress reports a pull.
type Progress interface {
	// Start begins a layer download of info.Size bytes.
	Start(info types.BlobInfo) Bar
	// Skip says a layer is already stored.
	Skip(info types.BlobInfo)
	// Note prints a line about the pull (how a short name was resolved,
	// which candidate is tried).
	Note(msg string)
	// Done prints a final line.
	Done(msg string)
}

// Bar is one layer's progress.
type Bar interface {
	// Reader counts what is read through r.
	Reader(r io.Reader) io.Reader
	// Set says n bytes are done (push: copy reports them).
	Set(n int64)
	Done()
	Abort()
}

type nopProgress struct{}

func (nopProgress) Start(types.BlobInfo) Bar { return nopBar{} }
func (nopProgress) Skip(types.BlobInfo)      {}
func (nopProgress) Note(string)              {}
func (nopProgress) Done(string)              {}

type nopBar struct{}

func (nopBar) Reader(r io.Reader) io.Reader { return r }
func (nopBar) Set(int64)                    {}
func (nopBar) Done()                        {}
func (nopBar) Abort()                       {}

func short(info types.BlobInfo) string {
	e := info.Digest.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

// LineProgress writes plain lines, for logs and pipes.
func LineProgress(w io.Writer) Progress { return &lineProgress{w: w} }

type lineProgress struct {
	w  io.Writer
	mu sync.Mutex
}

func (l *lineProgress) printf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, a...)
}

func (l *lineProgress) Start(info types.BlobInfo) Bar {
	if info.Size < 0 { // a layer of unknown size (push)
		l.printf("Copying blob %s\n", short(info))
		return &lineBar{p: l, info: info}
	}
	l.printf("Copying blob %s (%s)\n", short(info), units.HumanSizeWithPrecision(float64(info.Size), 3))
	return &lineBar{p: l, info: info}
}
func (l *lineProgress) Skip(info types.BlobInfo) {
	l.printf("Copying blob %s skipped: already exists\n", short(info))
}
func (l *lineProgress) Note(msg string) { l.printf("%s\n", msg) }
func (l *lineProgress) Done(msg string) { l.printf("%s\n", msg) }

type lineBar struct {
	p    *lineProgress
	info types.BlobInfo
}

func (b *lineBar) Reader(r io.Reader) io.Reader { return r }
func (b *lineBar) Set(int64)                    {}
func (b *lineBar) Done()                        { b.p.printf("Copying blob %s done\n", short(b.info)) }
func (b *lineBar) Abort()                       {}

// BarProgress draws a bar per layer, for terminals.
func BarProgress(w io.Writer) Progress {
	return &barProgress{w: w, p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(40))}
}

type barProgress struct {
	w io.Writer
	p *mpb.Progress
}

func (b *barProgress) Start(info types.BlobInfo) Bar {
	bar := b.p.AddBar(info.Size,
		mpb.PrependDecorators(decor.Name("Copying blob "+short(info)+" ")),
		mpb.AppendDecorators(decor.OnComplete(decor.CountersKibiByte("%.1f / %.1f"), "done")),
		mpb.BarRemoveOnComplete(),
	)
	return &mpbBar{bar: bar}
}

func (b *barProgress) Skip(info types.BlobInfo) {
	bar := b.p.AddBar(0, mpb.PrependDecorators(decor.Name("Copying blob "+short(info)+" skipped: already exists")))
	bar.SetTotal(0, true)
}

// Note prints above the bars (mpb draws them below what is written to it).
func (b *barProgress) Note(msg string) { fmt.Fprintln(b.p, msg) }

func (b *barProgress) Done(msg string) {
	b.p.Wait()
	fmt.Fprintln(b.w, msg)
}

type mpbBar struct{ bar *mpb.Bar }

func (m *mpbBar) Reader(r io.Reader) io.Reader { return m.bar.ProxyReader(r) }
func (m *mpbBar) Set(n int64)                  { m.bar.SetCurrent(n) }
func (m *mpbBar) Done()                        { m.bar.SetTotal(-1, true) }
func (m *mpbBar) Abort()                       { m.bar.Abort(false) }

// JSONProgress writes index.ToolMessage lines, for usandbox-image --json.
func JSONProgress(w io.Writer) Progress { return &jsonProgress{enc: json.NewEncoder(w)} }

type jsonProgress struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (j *jsonProgress) send(m index.ToolMessage) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.enc.Encode(m) // a reader that went away cancels the pull by its signal, not here
}

func (j *jsonProgress) Start(info types.BlobInfo) Bar {
	j.send(index.ToolMessage{Kind: index.ToolStart, Layer: info.Digest.String(), Size: info.Size})
	return &jsonBar{p: j, layer: info.Digest.String()}
}
func (j *jsonProgress) Skip(info types.BlobInfo) {
	j.send(index.ToolMessage{Kind: index.ToolSkip, Layer: info.Digest.String()})
}
func (j *jsonProgress) Note(msg string) {
	j.send(index.ToolMessage{Kind: index.ToolNote, Message: msg})
}
func (j *jsonProgress) Done(msg string) {
	j.send(index.ToolMessage{Kind: index.ToolFinish, Message: msg})
}

type jsonBar struct {
	p     *jsonProgress
	layer string
	n     int64
	last  time.Time
}

func (b *jsonBar) Reader(r io.Reader) io.Reader { return &jsonCounter{b: b, r: r} }
func (b *jsonBar) Set(n int64) {
	b.n = n
	b.p.send(index.ToolMessage{Kind: index.ToolProgress, Layer: b.layer, Current: n})
}
func (b *jsonBar) Done()  { b.p.send(index.ToolMessage{Kind: index.ToolDone, Layer: b.layer}) }
func (b *jsonBar) Abort() { b.p.send(index.ToolMessage{Kind: index.ToolAbort, Layer: b.layer}) }

// jsonCounter reports what was read at most every 100 ms.
type jsonCounter struct {
	b *jsonBar
	r io.Reader
}

func (c *jsonCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.b.n += int64(n)
	if now := time.Now(); n > 0 && now.Sub(c.b.last) >= 100*time.Millisecond {
		c.b.last = now
		c.b.p.send(index.ToolMessage{Kind: index.ToolProgress, Layer: c.b.layer, Current: c.b.n})
	}
	return n, err
}
