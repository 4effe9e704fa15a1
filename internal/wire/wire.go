// Package wire is the framing that usandbox's processes speak to each other
// over their sockets and pipes, the C stages included (package
// internal/proto): one message per frame, a 4-byte big-endian length and
// a JSON body, with file descriptors riding along as SCM_RIGHTS on a
// socket.
package wire

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// maxFrame bounds a message, so a confused peer cannot make us allocate.
const maxFrame = 1 << 20

// Encode is v's frame: the length of its JSON (4 bytes, big-endian), then
// the JSON.
func Encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(b) > maxFrame {
		return nil, errors.New("wire: oversized message")
	}
	frame := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(frame, uint32(len(b)))
	copy(frame[4:], b)
	return frame, nil
}

// Write writes v as one frame to w: for a pipe, or a socket when no fds
// go with it.
func Write(w io.Writer, v any) error {
	frame, err := Encode(v)
	if err != nil {
		return err
	}
	_, err = w.Write(frame)
	return err
}

// Read reads one frame from r into v. io.EOF means r ended before the
// frame began.
func Read(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	return readBody(r, binary.BigEndian.Uint32(hdr[:]), v)
}

func readBody(r io.Reader, size uint32, v any) error {
	if size > maxFrame {
		return errors.New("sandbox socket: oversized message")
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("sandbox socket: %w", err)
	}
	return json.Unmarshal(body, v)
}

// Send writes v as one frame (4-byte length, JSON), with fds attached.
func Send(conn *os.File, v any, fds ...int) error {
	frame, err := Encode(v)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	for len(frame) > 0 {
		n, err := unix.SendmsgN(int(conn.Fd()), frame, oob, nil, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("sending to the sandbox socket: %w", err)
		}
		frame, oob = frame[n:], nil
	}
	return nil
}

// Recv reads one frame into v and returns the fds that came with it.
// io.EOF means the peer closed the socket (it exited).
func Recv(conn *os.File, v any) ([]int, error) {
	var hdr [4]byte
	oob := make([]byte, unix.CmsgSpace(4*4))
	var fds []int
	got := 0
	for got < len(hdr) {
		n, oobn, _, _, err := unix.Recvmsg(int(conn.Fd()), hdr[got:], oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			if got == 0 {
				return nil, io.EOF
			}
			return nil, io.ErrUnexpectedEOF
		}
		if oobn > 0 {
			msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil {
				return nil, err
			}
			for _, m := range msgs {
				r, err := unix.ParseUnixRights(&m)
				if err == nil {
					fds = append(fds, r...)
				}
			}
		}
		got += n
	}
	return fds, readBody(conn, binary.BigEndian.Uint32(hdr[:]), v)
}
