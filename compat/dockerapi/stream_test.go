package dockerapi

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/api/pkg/stdcopy"
)

func TestMuxWriterFrames(t *testing.T) {
	var buf bytes.Buffer
	out, errw := newMux(&buf)
	if n, err := out.Write([]byte("hi\n")); n != 3 || err != nil {
		t.Fatalf("Write: %d %v", n, err)
	}
	errw.Write([]byte("err"))
	out.Write(nil) // nothing: no empty frame
	want := []byte{1, 0, 0, 0, 0, 0, 0, 3, 'h', 'i', '\n', 2, 0, 0, 0, 0, 0, 0, 3, 'e', 'r', 'r'}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("frames %v, want %v", buf.Bytes(), want)
	}
}

func TestMuxWriterStdCopy(t *testing.T) {
	var buf bytes.Buffer
	out, errw := newMux(&buf)
	big := bytes.Repeat([]byte("x"), maxFrame+10) // cut in two frames
	out.Write(big)
	errw.Write([]byte("e1"))
	out.Write([]byte("o2"))
	var gotOut, gotErr bytes.Buffer
	if _, err := stdcopy.StdCopy(&gotOut, &gotErr, &buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotOut.Bytes(), append(big, "o2"...)) || gotErr.String() != "e1" {
		t.Fatalf("docker's reader: stdout %d bytes, stderr %q", gotOut.Len(), gotErr.String())
	}
}

// TestMuxWriterConcurrent: frames of stdout and stderr written at once
// do not interleave.
func TestMuxWriterConcurrent(t *testing.T) {
	var buf bytes.Buffer
	out, errw := newMux(&buf)
	var wg sync.WaitGroup
	for _, w := range []*muxWriter{out, errw} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				w.Write(bytes.Repeat([]byte{'a' + w.stream}, 100))
			}
		}()
	}
	wg.Wait()
	var gotOut, gotErr bytes.Buffer
	if _, err := stdcopy.StdCopy(&gotOut, &gotErr, &buf); err != nil {
		t.Fatal(err)
	}
	if gotOut.String() != strings.Repeat("b", 20000) || gotErr.String() != strings.Repeat("c", 20000) {
		t.Fatalf("interleaved: %d/%d bytes", gotOut.Len(), gotErr.Len())
	}
}

// TestHijack: the 101 answer with docker's headers, the client's bytes
// after the request reach the reader, and the hold on the service lasts
// until the connection is closed.
func TestHijack(t *testing.T) {
	s := &Server{kick: make(chan struct{}, 1)}
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", APIVersion)
		conn, in, err := s.hijack(w, r, contentType(false))
		if err != nil {
			t.Error(err)
			return
		}
		if !s.busy() {
			t.Error("a hijacked stream does not hold the service")
		}
		line, _ := in.ReadString('\n')
		stdout, _ := newMux(conn)
		stdout.Write([]byte("got " + line))
		conn.(interface{ CloseWrite() error }).CloseWrite()
		io.Copy(io.Discard, in) // until the client's close
		conn.Close()
		close(done)
	}))
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /exec/x/start HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\nhello\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Content-Type") != "application/vnd.docker.multiplexed-stream" ||
		resp.Header.Get("Upgrade") != "tcp" || resp.Header.Get("Connection") != "Upgrade" || resp.Header.Get("Api-Version") != APIVersion {
		t.Fatalf("answer: %s %v", resp.Status, resp.Header)
	}
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, io.Discard, br); err != nil || out.String() != "got hello\n" {
		t.Fatalf("stream: %q %v", out.String(), err)
	}
	c.Close()
	<-done
	if s.busy() {
		t.Fatal("the closed stream still holds the service")
	}
}
