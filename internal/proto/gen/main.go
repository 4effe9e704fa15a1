// Command gen writes a C header of usandbox's C stages from package
// internal/proto (see package internal/proto/cgen). go generate runs it
// in each package with C code:
//
//	go run ../internal/proto/gen nsexec/proto_gen.h
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"usandbox/internal/proto/cgen"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintf(os.Stderr, "usage: gen HEADER (one of %s)\n", strings.Join(cgen.Paths(), ", "))
		os.Exit(2)
	}
	path := os.Args[1]
	b, err := cgen.Generate(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	// go generate runs in the package's directory: the header is the
	// file of that name there.
	if err := os.WriteFile(filepath.Base(path), b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
