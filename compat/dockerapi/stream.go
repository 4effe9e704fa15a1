package dockerapi

// Streams of exec and attach: the client's request turns its connection
// into a raw byte stream (net/http lets go of it: hijack), the way
// docker's daemon does it:
//
//	client                                  service
//	POST /exec/ID/start                 ->
//	  Connection: Upgrade, Upgrade: tcp
//	                                    <-  HTTP/1.1 101 UPGRADED
//	                                          Content-Type: application/vnd.docker.raw-stream
//	                                          (or …multiplexed-stream), Connection: Upgrade, Upgrade: tcp
//	stdin bytes …, then half-close     ->
//	                                    <-  output: raw bytes (a tty) or frames (muxWriter)
//	                                    <-  close: the command ended
//
// A client that sends no Upgrade header gets "200 OK" and the same
// stream, as docker answers it.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/moby/moby/api/types"
)

// The stream numbers of docker's multiplexed stream (a frame's first
// byte).
const (
	streamStdin  byte = 0
	streamStdout byte = 1
	streamStderr byte = 2
)

// contentType is the media type of a stream's output: raw bytes for a
// tty (the pty merges stdout and stderr), frames otherwise.
func contentType(tty bool) string {
	if tty {
		return types.MediaTypeRawStream
	}
	return types.MediaTypeMultiplexedStream
}

// hijack takes the request's connection over from net/http and writes
// the answer that starts the stream (101 UPGRADED with the Upgrade
// header, 200 OK without), with the headers set on w so far (the API
// version's), and the media type ctype (contentType). It returns the
// connection and a reader of what the client sends from now on (its
// stdin: bytes the client sent after the request may already be in the
// buffer). The stream counts as busy for Serve's idle exit until conn
// is closed; the caller closes it.
//
// Nothing may be written to w after hijack, error or not.
func (s *Server) hijack(w http.ResponseWriter, r *http.Request, ctype string) (conn net.Conn, in *bufio.Reader, err error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("the connection cannot be taken over for a stream")
	}
	c, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("taking the connection over for a stream: %w", err)
	}
	hc := &hijackedConn{Conn: c, release: s.hold()}
	status := "200 OK"
	if r.Header.Get("Upgrade") != "" {
		status = "101 UPGRADED"
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "tcp")
	}
	w.Header().Set("Content-Type", ctype)
	hdr := w.Header().Clone()
	out := bufio.NewWriter(c)
	fmt.Fprintf(out, "HTTP/1.1 %s\r\n", status)
	hdr.Write(out)
	out.WriteString("\r\n")
	if err := out.Flush(); err != nil {
		hc.Close()
		return nil, nil, fmt.Errorf("starting the stream: %w", err)
	}
	// What the client sent already is in brw; the rest is read from the
	// connection itself: net/http's reader would cancel the request's
	// context at the client's half-close (the end of its stdin).
	early, _ := brw.Reader.Peek(brw.Reader.Buffered())
	return hc, bufio.NewReader(io.MultiReader(bytes.NewReader(bytes.Clone(early)), c)), nil
}

// hijackedConn is a hijacked connection that releases its hold on the
// service once, when closed.
type hijackedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *hijackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite half-closes the connection (the client then reads the end
// of the stream) where the connection can (unix and tcp sockets).
func (c *hijackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// muxWriter writes each Write as one frame of docker's multiplexed
// stream: an 8-byte header [stream, 0, 0, 0, size as uint32 big-endian]
// then the payload. The writers of one connection (stdout's and
// stderr's) share mu, so that their frames do not interleave.
type muxWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	stream byte
}

// newMux returns the stdout and stderr writers of one multiplexed
// stream on w.
func newMux(w io.Writer) (stdout, stderr *muxWriter) {
	mu := &sync.Mutex{}
	return &muxWriter{mu: mu, w: w, stream: streamStdout}, &muxWriter{mu: mu, w: w, stream: streamStderr}
}

// maxFrame is the most a frame carries: a longer Write is cut in
// frames (the size field has 32 bits; docker's clients read a frame
// into one buffer).
const maxFrame = 1 << 20

func (m *muxWriter) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for len(p) > 0 {
		chunk := p
		if len(chunk) > maxFrame {
			chunk = chunk[:maxFrame]
		}
		frame := make([]byte, 8+len(chunk))
		frame[0] = m.stream
		binary.BigEndian.PutUint32(frame[4:8], uint32(len(chunk)))
		copy(frame[8:], chunk)
		if _, err := m.w.Write(frame); err != nil {
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}
