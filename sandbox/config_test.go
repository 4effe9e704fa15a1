package sandbox

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"usandbox/sandbox/spec"
	"usandbox/storage/index"
)

func TestArgv(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		name       string
		cfg        index.Config
		entrypoint *string
		args       []string
		want       []string
	}{
		{"cmd only", index.Config{Cmd: []string{"sh"}}, nil, nil, []string{"sh"}},
		{"args replace cmd", index.Config{Cmd: []string{"sh"}}, nil, []string{"echo", "hi"}, []string{"echo", "hi"}},
		{"entrypoint + cmd", index.Config{Entrypoint: []string{"/ep", "-x"}, Cmd: []string{"a"}}, nil, nil, []string{"/ep", "-x", "a"}},
		{"entrypoint + args", index.Config{Entrypoint: []string{"/ep"}, Cmd: []string{"a"}}, nil, []string{"b", "c"}, []string{"/ep", "b", "c"}},
		{"entrypoint only", index.Config{Entrypoint: []string{"/ep"}}, nil, nil, []string{"/ep"}},
		{"--entrypoint drops image cmd", index.Config{Entrypoint: []string{"/ep"}, Cmd: []string{"a"}}, str("/other"), nil, []string{"/other"}},
		{"--entrypoint + args", index.Config{Cmd: []string{"a"}}, str("/other"), []string{"x"}, []string{"/other", "x"}},
		{"--entrypoint '' clears", index.Config{Entrypoint: []string{"/ep"}, Cmd: []string{"a"}}, str(""), []string{"ls"}, []string{"ls"}},
		{"--entrypoint JSON", index.Config{Cmd: []string{"a"}}, str(`["echo","a b"]`), []string{"c"}, []string{"echo", "a b", "c"}},
		{"--entrypoint not JSON", index.Config{}, str("[x"), nil, []string{"[x"}},
		{"--entrypoint JSON of no strings", index.Config{}, str("[1]"), nil, []string{"[1]"}},
		{"--entrypoint []", index.Config{Cmd: []string{"a"}}, str("[]"), []string{"ls"}, []string{"ls"}},
		{"nothing", index.Config{}, nil, nil, nil},
		{"--entrypoint '' and nothing", index.Config{Cmd: []string{"a"}}, str(""), nil, nil},
	}
	for _, tt := range tests {
		got, err := Argv(tt.cfg, tt.entrypoint, tt.args)
		if tt.want == nil {
			if !errors.Is(err, ErrNoCommand) {
				t.Errorf("%s: got %v, %v; want ErrNoCommand", tt.name, got, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestEnv(t *testing.T) {
	lookup := func(k string) (string, bool) {
		if k == "HOSTVAR" {
			return "fromhost", true
		}
		return "", false
	}
	got, err := ParseEnv([]string{"A=1", "B=", "HOSTVAR", "UNSET", "C=x=y"}, lookup)
	if err != nil || !reflect.DeepEqual(got, []string{"A=1", "B=", "HOSTVAR=fromhost", "C=x=y"}) {
		t.Fatalf("ParseEnv: %q %v", got, err)
	}
	if _, err := ParseEnv([]string{"=x"}, lookup); err == nil {
		t.Fatal("empty key accepted")
	}
	merged := MergeEnv([]string{"PATH=/bin", "A=0"}, []string{"A=1", "Z=2"})
	if !reflect.DeepEqual(merged, []string{"PATH=/bin", "A=1", "Z=2"}) {
		t.Fatalf("MergeEnv: %q", merged)
	}
	file, err := parseEnvFile(strings.NewReader("# comment\n\nK=v w\n  HOSTVAR\nUNSET\n"), lookup)
	if err != nil || !reflect.DeepEqual(file, []string{"K=v w", "HOSTVAR=fromhost"}) {
		t.Fatalf("env file: %q %v", file, err)
	}
}

func TestParseVolume(t *testing.T) {
	tests := []struct {
		in   string
		want spec.Mount
		err  string
	}{
		{"/data:/mnt", spec.Mount{Type: "bind", Source: "/data", Destination: "/mnt"}, ""},
		{"/data:/mnt/:ro", spec.Mount{Type: "bind", Source: "/data", Destination: "/mnt", ReadOnly: true}, ""},
		{"/data:/mnt:rw", spec.Mount{Type: "bind", Source: "/data", Destination: "/mnt"}, ""},
		{"myvol:/mnt", spec.Mount{Type: "volume", Name: "myvol", Destination: "/mnt", CopyUp: true}, ""},
		{"myvol:/mnt:ro,z", spec.Mount{Type: "volume", Name: "myvol", Destination: "/mnt", CopyUp: true, ReadOnly: true}, ""},
		{"myvol:/mnt:nocopy,U,Z", spec.Mount{Type: "volume", Name: "myvol", Destination: "/mnt", Chown: true}, ""},
		{"/data:/mnt:U", spec.Mount{Type: "bind", Source: "/data", Destination: "/mnt", Chown: true}, ""},
		{"/anon", spec.Mount{Type: "volume", Destination: "/anon", Anonymous: true, CopyUp: true}, ""},
		{"/anon/", spec.Mount{Type: "volume", Destination: "/anon", Anonymous: true, CopyUp: true}, ""},
		{"my/vol:/mnt", spec.Mount{}, "invalid volume name"},
		{"anon", spec.Mount{}, "must be absolute"},
		{"/data:mnt", spec.Mount{}, "must be absolute"},
		{"/data:/mnt:rx", spec.Mount{}, `unknown option "rx"`},
		{"/data:/mnt:ro,rw", spec.Mount{}, "ro and rw"},
		{"/data:/mnt:nocopy", spec.Mount{}, "only for volumes"},
		{"/data:/mnt:O", spec.Mount{Type: "bind", Source: "/data", Destination: "/mnt", Overlay: true}, ""},
		{"/data:/mnt:O,ro", spec.Mount{Type: "bind", Source: "/data", Destination: "/mnt", Overlay: true, ReadOnly: true}, ""},
		{"/da:ta:/mnt:O", spec.Mount{}, "SOURCE:CONTAINER-PATH"},
		{"vol:/mnt:O", spec.Mount{}, "O is only for host directories"},
		{"a:b:c:d", spec.Mount{}, "SOURCE:CONTAINER-PATH"},
	}
	for _, tt := range tests {
		got, err := ParseVolume(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %+v %v", tt.in, got, err)
		}
	}
	if m, err := ParseTmpfs("/run:size=1m"); err != nil || m.Destination != "/run" || m.Options != "size=1m" {
		t.Errorf("ParseTmpfs: %+v %v", m, err)
	}
	if _, err := ParseTmpfs("run"); err == nil {
		t.Error("relative tmpfs accepted")
	}
}

func TestParseMount(t *testing.T) {
	tests := []struct {
		in   string
		want spec.Mount
		err  string
	}{
		{"type=bind,src=/data,dst=/mnt", spec.Mount{Type: "bind", Source: "/data", Destination: "/mnt"}, ""},
		{"type=bind,source=/data,target=/mnt,ro", spec.Mount{Type: "bind", Source: "/data", Destination: "/mnt", ReadOnly: true}, ""},
		{"type=bind,src=/data,destination=/mnt,readonly=true", spec.Mount{Type: "bind", Source: "/data", Destination: "/mnt", ReadOnly: true}, ""},
		{"type=bind,src=/data,dst=/mnt,readonly=false", spec.Mount{Type: "bind", Source: "/data", Destination: "/mnt"}, ""},
		{"type=bind,src=/data,dst=/mnt,bind-propagation=rprivate", spec.Mount{Type: "bind", Source: "/data", Destination: "/mnt"}, ""},
		{"type=bind,src=/data,dst=/mnt,bind-propagation=rshared", spec.Mount{}, "bind-propagation"},
		{"type=bind,dst=/mnt", spec.Mount{}, "needs a source"},
		{"type=volume,src=v1,dst=/mnt", spec.Mount{Type: "volume", Name: "v1", Destination: "/mnt", CopyUp: true}, ""},
		{"type=volume,src=v1,dst=/mnt,volume-nocopy", spec.Mount{Type: "volume", Name: "v1", Destination: "/mnt"}, ""},
		{"type=volume,dst=/mnt", spec.Mount{Type: "volume", Destination: "/mnt", Anonymous: true, CopyUp: true}, ""},
		{"type=volume,src=../etc,dst=/mnt", spec.Mount{}, "invalid volume name"},
		{"type=volume,src=/abs,dst=/mnt", spec.Mount{}, "invalid volume name"},
		{"type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=0700", spec.Mount{Type: "tmpfs", Destination: "/t", Options: "size=1048576,mode=0700"}, ""},
		{"type=tmpfs,dst=/t,tmpfs-size=10x", spec.Mount{}, "tmpfs-size"},
		{"type=tmpfs,dst=/t,tmpfs-mode=9", spec.Mount{}, "tmpfs-mode"},
		{"type=tmpfs,src=/x,dst=/t", spec.Mount{}, "source is not supported with tmpfs"},
		{"type=tmpfs,dst=/t,ro", spec.Mount{Type: "tmpfs", Destination: "/t", ReadOnly: true}, ""},
		{"type=foo,dst=/t", spec.Mount{}, `invalid mount type "foo"`},
		{"src=v,dst=/t", spec.Mount{}, "type="},
		{"type=volume", spec.Mount{}, "target"},
		{"type=volume,dst=rel", spec.Mount{}, "must be absolute"},
		{"type=volume,dst=/t,badopt=1", spec.Mount{}, `unknown option "badopt"`},
		{"type=bind,src=/data,dst=/t,tmpfs-size=1m", spec.Mount{}, "only for tmpfs"},
		{"type=volume,dst=/t,dst=/u", spec.Mount{}, "twice"},
	}
	for _, tt := range tests {
		got, err := ParseMount(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %+v %v", tt.in, got, err)
		}
	}
}

func TestParseVolumesFrom(t *testing.T) {
	for _, tt := range []struct {
		in, ref, mode string
		err           bool
	}{
		{"box", "box", "", false},
		{"box:ro", "box", "ro", false},
		{"box:rw", "box", "rw", false},
		{"box:z", "box", "", false},
		{"box:ro,z", "box", "ro", false},
		{"box:rx", "", "", true},
		{":ro", "", "", true},
	} {
		ref, mode, err := ParseVolumesFrom(tt.in)
		if (err != nil) != tt.err || ref != tt.ref || mode != tt.mode {
			t.Errorf("%q: %q %q %v", tt.in, ref, mode, err)
		}
	}
}

func TestEnvRefusals(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	if _, err := parseEnvFile(strings.NewReader("A=1\nB=x\x00y\n"), none); err == nil || !strings.Contains(err.Error(), "line 2 holds a NUL byte") {
		t.Errorf("NUL in an env file: %v", err)
	}
	big := "BIG=" + strings.Repeat("a", 3<<20)
	if _, err := parseEnvFile(strings.NewReader(big+"\n"), none); err == nil || !strings.Contains(err.Error(), "longer than the kernel takes") {
		t.Errorf("3 MB line in an env file: %v", err)
	}
	if _, err := ParseEnv([]string{big}, none); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("3 MB -e value: %v", err)
	}
	if got, err := ParseEnv([]string{"LIST=a,b,SECRET"}, func(string) (string, bool) { return "leak", true }); err != nil || len(got) != 1 || got[0] != "LIST=a,b,SECRET" {
		t.Errorf("a value with commas: %q %v", got, err)
	}
}
