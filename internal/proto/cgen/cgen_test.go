package cgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"usandbox/internal/proto"
)

// root is the repository's root, from this package's directory.
const root = "../../.."

func TestHeadersCurrent(t *testing.T) {
	for _, path := range Paths() {
		want, err := Generate(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what package internal/proto says: run go generate ./...", path)
		}
	}
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{
		"MapMe": "map_me", "ChildPID": "child_pid", "joinPidNS": "join_pid_ns", "removeIn": "remove_in",
		"logMax": "log_max", "ppid": "ppid", "Config": "config",
	} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCString(t *testing.T) {
	if got, want := cString("a\"b\\c\x00\x01d"), `"a\"b\\c\000\001d"`; got != want {
		t.Fatalf("cString: %s, want %s", got, want)
	}
}

func TestNotAMessage(t *testing.T) {
	h := newHeader("x", "x.h")
	type noKind struct{ Pid int32 }
	type badType struct {
		Kind Kind `json:"kind"`
		Ok   bool `json:"ok"`
	}
	type omit struct {
		Kind Kind  `json:"kind"`
		Pid  int32 `json:"pid,omitempty"`
	}
	type unbounded struct {
		Kind Kind   `json:"kind"`
		Name string `json:"name"`
	}
	for _, c := range []struct {
		v any
		u use
	}{{noKind{}, cWrites}, {badType{Kind: "k"}, cWrites}, {omit{Kind: "k"}, cWrites}, {unbounded{Kind: "k"}, cParses}, {unbounded{Kind: "k k"}, cWrites}} {
		if err := h.message(c.v, c.u); err == nil {
			t.Errorf("%T: no error", c.v)
		}
	}
}

// Kind is a message kind for TestNotAMessage.
type Kind = proto.Kind

// harness is a C program over the generated headers: it parses a frame's
// body (argv[2]) with each parser, or encodes a message, and prints the
// result; cc compiles it with the flags of the packages' cgo code.
const harness = `
#include <stdio.h>
#include <stdlib.h>
#include "nsexec/proto_gen.h"
#include "sandbox/lean/proto_gen.h"

int main(int argc, char **argv) {
	if (argc != 3)
		return 2;
	const char *what = argv[1], *in = argv[2];
	char out[NSEXEC_MAX_FRAME];
	if (strcmp(what, "config") == 0) {
		struct nsexec_config c;
		if (nsexec_parse_config(in, strlen(in), &c) < 0) {
			puts("reject");
			return 0;
		}
		printf("%llu %d %d %d %d %d\n", c.flags, c.ppid, c.join, c.join_pid_ns, c.lifeline, c.remove_in);
	} else if (strcmp(what, "monitor") == 0) {
		struct lean_monitor m;
		if (lean_parse_monitor(in, strlen(in), &m) < 0) {
			puts("reject");
			return 0;
		}
		printf("%d %d %d %d %d %lld %s %s\n", m.init, m.keeper, m.stdout_, m.stderr_, m.log, m.log_max, m.log_name, m.rotated_name);
	} else if (strcmp(what, "map-me") == 0) {
		struct nsexec_map_me m = {.pid = atoi(in)};
		if (nsexec_encode_map_me(out, sizeof(out), &m) < 0)
			return 1;
		puts(out);
	} else if (strcmp(what, "child-pid") == 0) {
		struct nsexec_child_pid m = {.pid = atoi(in)};
		if (nsexec_encode_child_pid(out, sizeof(out), &m) < 0)
			return 1;
		puts(out);
	} else if (strcmp(what, "error") == 0) {
		struct nsexec_error m = {.step = NSEXEC_STEP_USERNS, .errno_ = atoi(in)};
		if (nsexec_encode_error(out, sizeof(out), &m) < 0)
			return 1;
		puts(out);
	} else if (strcmp(what, "exact") == 0) {
		printf("%s\n%s\n", NSEXEC_MSG_MAPPED, NSEXEC_MSG_ABORT);
	} else {
		return 2;
	}
	return 0;
}
`

// TestC runs the generated C against Go's encoding: C parses what Go
// sends, refuses anything else, and writes what Go reads.
func TestC(t *testing.T) {
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("no gcc: the C harness of the generated headers needs a C compiler, as cgo does")
	}
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "harness.c"), filepath.Join(dir, "harness")
	if err := os.WriteFile(src, []byte(harness), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cc, "-Wall", "-Werror", "-O2", "-I", root, "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("compiling the harness: %v\n%s", err, out)
	}
	run := func(what, in string) string {
		t.Helper()
		out, err := exec.Command(bin, what, in).Output()
		if err != nil {
			t.Fatalf("harness %s %q: %v", what, in, err)
		}
		return strings.TrimSuffix(string(out), "\n")
	}
	js := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	cfg := js(proto.Config{Kind: proto.KindConfig, Flags: 0x7e020000, PPid: 4242, Join: -1, JoinPidNS: -1, Lifeline: 4, RemoveIn: 5})
	if got, want := run("config", cfg), "2114060288 4242 -1 -1 4 5"; got != want {
		t.Errorf("config %s parsed as %q, want %q", cfg, got, want)
	}
	edge := js(proto.Config{Kind: proto.KindConfig, Flags: 1<<64 - 1, PPid: -1 << 31, Join: 1<<31 - 1, JoinPidNS: 0})
	if got, want := run("config", edge), "18446744073709551615 -2147483648 2147483647 0 0 0"; got != want {
		t.Errorf("config %s parsed as %q, want %q", edge, got, want)
	}
	for _, bad := range []string{
		strings.Replace(cfg, `"ppid":4242`, `"ppid": 4242`, 1),
		strings.Replace(cfg, `"ppid":4242`, `"ppid":+4242`, 1),
		strings.Replace(cfg, `"ppid":4242`, `"ppid":04242`, 1),
		strings.Replace(cfg, `"flags":2114060288`, `"flags":-1`, 1),
		strings.Replace(cfg, `"lifeline":4,"removeIn":5`, `"removeIn":5,"lifeline":4`, 1),
		strings.Replace(cfg, `"config"`, `"monitor"`, 1),
		strings.Replace(cfg, `"ppid":4242`, `"ppid":99999999999`, 1),
		strings.Replace(cfg, `"ppid":4242`, `"ppid":2147483648`, 1),
		strings.Replace(cfg, `"ppid":4242`, `"ppid":-2147483649`, 1),
		strings.Replace(cfg, `"ppid":4242`, `"ppid":-0`, 1),
		strings.Replace(cfg, `"ppid":4242`, `"ppid":-`, 1),
		strings.Replace(cfg, `"ppid":4242`, `"ppid":4242.0`, 1),
		strings.Replace(cfg, `"ppid":4242`, `"ppid":"4242"`, 1),
		strings.Replace(cfg, `"flags":2114060288`, `"flags":18446744073709551616`, 1),
		cfg + " ",
		strings.TrimSuffix(cfg, "}"),
		cfg[:len(cfg)-1] + `,"extra":1}`,
		"",
	} {
		if got := run("config", bad); got != "reject" {
			t.Errorf("config %s parsed as %q", bad, got)
		}
	}

	mon := js(proto.Monitor{Kind: proto.KindMonitor, Init: 10, Keeper: 11, Stdout: 5, Stderr: -1, Log: 7, LogMax: 10 << 20, LogName: "ctr.log", RotatedName: "ctr.log.1"})
	if got, want := run("monitor", mon), "10 11 5 -1 7 10485760 ctr.log ctr.log.1"; got != want {
		t.Errorf("monitor %s parsed as %q, want %q", mon, got, want)
	}
	edgeMon := js(proto.Monitor{Kind: proto.KindMonitor, LogMax: -1 << 63, LogName: "a", RotatedName: strings.Repeat("b", 255)})
	if got, want := run("monitor", edgeMon), "0 0 0 0 0 -9223372036854775808 a "+strings.Repeat("b", 255); got != want {
		t.Errorf("monitor %s parsed as %q, want %q", edgeMon, got, want)
	}
	for _, bad := range []string{
		strings.Replace(mon, `"ctr.log"`, `"ctr<log"`, 1),
		strings.Replace(mon, `"ctr.log"`, `"ctr\u00e9log"`, 1),
		strings.Replace(mon, `"ctr.log"`, "\"ctr\xc3\xa9log\"", 1),
		strings.Replace(mon, `"ctr.log"`, "\"ctr\tlog\"", 1),
		strings.Replace(mon, `"logMax":10485760`, `"logMax":9223372036854775808`, 1),
		strings.Replace(mon, `"ctr.log"`, `"ctr\"log"`, 1),
		strings.Replace(mon, `"ctr.log"`, `"ctr\u003clog"`, 1),
		strings.Replace(mon, `"ctr.log"`, `""`, 1),
		strings.Replace(mon, `"ctr.log"`, `"`+strings.Repeat("x", 256)+`"`, 1),
	} {
		if got := run("monitor", bad); got != "reject" {
			t.Errorf("monitor %s parsed as %q", bad, got)
		}
	}

	if got, want := run("map-me", "77"), js(proto.MapMe{Kind: proto.KindMapMe, Pid: 77}); got != want {
		t.Errorf("C's map-me %s, Go's %s", got, want)
	}
	for _, pid := range []int32{-3, 0, 9, 10, 2147483647, -2147483648} {
		if got, want := run("child-pid", fmt.Sprint(pid)), js(proto.ChildPID{Kind: proto.KindChildPID, Pid: pid}); got != want {
			t.Errorf("C's child-pid %s, Go's %s", got, want)
		}
	}
	if got, want := run("error", "13"), js(proto.Error{Kind: proto.KindError, Step: proto.StepUserNS, Errno: 13}); got != want {
		t.Errorf("C's error %s, Go's %s", got, want)
	}
	if got, want := run("exact", "-"), js(proto.Mapped{Kind: proto.KindMapped})+"\n"+js(proto.Abort{Kind: proto.KindAbort}); got != want {
		t.Errorf("C's exact messages %q, Go's %q", got, want)
	}
}
