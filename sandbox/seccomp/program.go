package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// maxInstructions is the kernel's limit on a classic BPF program
// (BPF_MAXINSNS).
const maxInstructions = 4096

// Instruction is one classic BPF instruction, as struct sock_filter.
type Instruction struct {
	Code uint16 // the operation (BPF_LD|BPF_W|BPF_ABS, BPF_RET|BPF_K, ...)
	Jt   uint8  // for a jump: instructions to skip when true
	Jf   uint8  // for a jump: instructions to skip when false
	K    uint32 // the constant operand
}

// Program is a compiled seccomp filter, ready for [Load]: what the
// kernel's SECCOMP_SET_MODE_FILTER takes. An empty Program (no
// instructions) stands for unconfined.
type Program struct {
	// Flags are the SECCOMP_FILTER_FLAG_* flags to install the filter
	// with (docker's default gets SECCOMP_FILTER_FLAG_SPEC_ALLOW from
	// runc, like under docker).
	Flags uint32
	// Filter is the classic BPF program.
	Filter []Instruction
}

// IsEmpty reports whether p installs no filter (unconfined).
func (p Program) IsEmpty() bool { return len(p.Filter) == 0 }

// The encoding is a magic, the flags, then 8 bytes per instruction, all
// little-endian, so that the bytes (and a cache file) mean the same on
// any host.
var magic = [8]byte{'u', 's', 'b', 'x', 'b', 'p', 'f', '1'}

const headerSize = len(magic) + 4

// MarshalBinary encodes p for sending to the sandbox's setup process or
// storing in a [Cache].
func (p Program) MarshalBinary() ([]byte, error) {
	if len(p.Filter) > maxInstructions {
		return nil, fmt.Errorf("seccomp: program of %d instructions is longer than the kernel's %d", len(p.Filter), maxInstructions)
	}
	b := make([]byte, headerSize, headerSize+8*len(p.Filter))
	copy(b, magic[:])
	binary.LittleEndian.PutUint32(b[len(magic):], p.Flags)
	for _, in := range p.Filter {
		b = binary.LittleEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.LittleEndian.AppendUint32(b, in.K)
	}
	return b, nil
}

// UnmarshalBinary decodes what [Program.MarshalBinary] encoded.
func (p *Program) UnmarshalBinary(b []byte) error {
	if len(b) < headerSize || [8]byte(b[:len(magic)]) != magic {
		return errors.New("seccomp: not a compiled seccomp program")
	}
	body := b[headerSize:]
	if len(body)%8 != 0 || len(body)/8 > maxInstructions {
		return fmt.Errorf("seccomp: compiled program of %d bytes is truncated or too long", len(b))
	}
	p.Flags = binary.LittleEndian.Uint32(b[len(magic):])
	p.Filter = make([]Instruction, len(body)/8)
	for i := range p.Filter {
		in := body[8*i:]
		p.Filter[i] = Instruction{
			Code: binary.LittleEndian.Uint16(in),
			Jt:   in[2],
			Jf:   in[3],
			K:    binary.LittleEndian.Uint32(in[4:]),
		}
	}
	return nil
}
