package format

import (
	"bytes"
	"strings"
	"testing"
)

type state string

type row struct {
	State     state
	ID        string
	Names     string
	CreatedAt string
	ImageID   string
	Labels    map[string]string
	Cmd       []string
}

var rows = []row{
	{State: "up", ID: "abc", Names: "web", CreatedAt: "now", ImageID: "i1", Labels: map[string]string{"a": "b"}, Cmd: []string{"sleep", "1"}},
	{State: "down", ID: "defghijklmnop", Names: "db", CreatedAt: "then", ImageID: "i2", Labels: map[string]string{}, Cmd: []string{"true"}},
}

var heads = Headers(row{}, map[string]string{"ID": "container id"})

func TestExecute(t *testing.T) {
	for _, tt := range []struct {
		name, format string
		headers      map[string]string
		want         string
	}{
		{"field", "{{.ID}}", heads, "abc\ndefghijklmnop\n"},
		{"two fields", "{{.Names}} {{.ID}}", heads, "web abc\ndb defghijklmnop\n"},
		{"escaped tab", `{{.Names}}\t{{.ID}}`, nil, "web\tabc\ndb\tdefghijklmnop\n"},
		{"json func", "{{json .Cmd}}", nil, "[\"sleep\",\"1\"]\n[\"true\"]\n"},
		{"join", `{{join .Cmd ","}}`, nil, "sleep,1\ntrue\n"},
		{"upper lower title", "{{upper .Names}} {{lower .ID}} {{title .Names}}", nil, "WEB abc Web\nDB defghijklmnop Db\n"},
		{"upper of a string type", "{{upper .State}}", nil, "UP\nDOWN\n"},
		{"index", `{{index .Labels "a"}}.`, nil, "b.\n.\n"},
		{"range", "{{range .Cmd}}<{{.}}>{{end}}", nil, "<sleep><1>\n<true>\n"},
		{"range over all", "{{range .}}{{.Names}},{{end}}", nil, "web,db,\n"},
		{"truncate pad split", `{{truncate .ID 4}}|{{pad .Names 1 1}}|{{index (split .CreatedAt "e") 0}}`, nil, "abc| web |now\ndefg| db |th\n"},
		{"table", `table {{.ID}}\t{{.Names}}`, heads, "" +
			"CONTAINER ID   NAMES\n" +
			"abc            web\n" +
			"defghijklmnop  db\n"},
		{"table splits at spaces", "table {{.Names}} {{.CreatedAt}} {{.ImageID}}", heads, "" +
			"NAMES       CREATED AT  IMAGE ID\n" +
			"web         now         i1\n" +
			"db          then        i2\n"},
		{"table without headers", `table {{.Names}}`, nil, "web\ndb\n"},
		{"trailing newline kept", "{{.Names}}\n", nil, "web\ndb\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := Parse("ps", tt.format)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := tmpl.Execute(&b, rows, tt.headers); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Fatalf("got\n%q\nwant\n%q", b.String(), tt.want)
			}
		})
	}
}

func TestJSON(t *testing.T) {
	tmpl, err := Parse("ps", " json ")
	if err != nil || !tmpl.IsJSON() {
		t.Fatalf("json: %v", err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, []row{}, nil); err != nil || b.String() != "[]\n" {
		t.Fatalf("empty list: %q %v", b.String(), err)
	}
	b.Reset()
	if err := tmpl.Execute(&b, rows[:1], nil); err != nil || !strings.Contains(b.String(), `"Names": "web"`) {
		t.Fatalf("json: %q %v", b.String(), err)
	}
}

func TestBadTemplates(t *testing.T) {
	for _, f := range []string{"{{.ID", "{{nosuchfunc .ID}}", "{{end}}"} {
		if _, err := Parse("ps", f); err == nil || !strings.Contains(err.Error(), "template: ps") {
			t.Errorf("Parse(%q): %v, want a template error", f, err)
		}
	}
	// A field the record does not have fails at execution, and nothing
	// is written: no half table.
	for _, f := range []string{"{{.Nope}}", "table {{.ID}} {{.Nope}}", "{{index .Cmd 5}}"} {
		tmpl, err := Parse("ps", f)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := tmpl.Execute(&b, rows, heads); err == nil || b.Len() != 0 {
			t.Errorf("%q: %v, wrote %q", f, err, b.String())
		}
	}
}

func TestDefaultTable(t *testing.T) {
	for f, want := range map[string]bool{"": true, "table": true, " table ": true, "table {{.ID}}": false, "json": false, "{{.ID}}": false} {
		if got := IsDefaultTable(f); got != want {
			t.Errorf("IsDefaultTable(%q) = %v", f, got)
		}
	}
}

func TestSplitCamel(t *testing.T) {
	for in, want := range map[string]string{
		"ID": "ID", "CreatedAt": "Created At", "ImageID": "Image ID", "RunningFor": "Running For",
		"Names": "Names", "OsArch": "Os Arch", "IDMappings": "ID Mappings",
	} {
		if got := strings.Join(splitCamel(in), " "); got != want {
			t.Errorf("splitCamel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestYAML(t *testing.T) {
	type id struct {
		C int `json:"container_id"`
	}
	v := struct {
		Host struct {
			Arch string `json:"arch"`
			Maps []id   `json:"uidmap"`
			None []id   `json:"gidmap"`
		} `json:"host"`
		Regs    map[string]any `json:"registries"`
		Version string         `json:"version"`
		Odd     string         `json:"odd"`
	}{Regs: map[string]any{"search": []string{"docker.io", "quay.io"}}, Version: "12", Odd: "a: b"}
	v.Host.Arch = "amd64"
	v.Host.Maps = []id{{0}, {1}}
	var b bytes.Buffer
	if err := PrintYAML(&b, v); err != nil {
		t.Fatal(err)
	}
	want := `host:
  arch: amd64
  uidmap:
  - container_id: 0
  - container_id: 1
  gidmap: []
registries:
  search:
  - docker.io
  - quay.io
version: "12"
odd: "a: b"
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}
