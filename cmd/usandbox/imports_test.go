package main

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestFrontEndOnly: the command line is flag tables, printing and exit
// codes; what touches the kernel or the leaf packages lives behind
// package lifecycle, which every front end shares.
func TestFrontEndOnly(t *testing.T) {
	forbidden := []string{"syscall", "golang.org/x/sys/unix", "usandbox/userns", "usandbox/cgroupv2",
		"usandbox/network", "usandbox/nsexec", "usandbox/sandbox/inner", "usandbox/sandbox/lean", "usandbox/storage/index"}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if path == bad {
					t.Errorf("%s imports %s: call package lifecycle instead", f, path)
				}
			}
		}
	}
}
