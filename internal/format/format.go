// Package format is --format for the commands that print records (ps,
// images, inspect, info, version): Go templates with podman's functions
// and directives, so that scripts written for podman parse usandbox.
//
// As podman's (containers/common pkg/report): "json" prints JSON;
// "table TEMPLATE" prints a header row, then one row per record, aligned
// in columns ("\t" and spaces separate them); any other TEMPLATE runs once
// per record, each output ending in a newline. `\t` and `\n` typed on the
// command line are tab and newline.
package format

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"
	"text/tabwriter"
	"text/template"
	"unicode"
)

// Funcs are podman's template functions.
// The string functions take any value and use its text, so that a
// string type ({{upper .State.Status}}) works as well as a string.
var funcs = template.FuncMap{
	"join":     strings.Join,
	"json":     jsonString,
	"lower":    func(v any) string { return strings.ToLower(text(v)) },
	"upper":    func(v any) string { return strings.ToUpper(text(v)) },
	"title":    func(v any) string { return title(text(v)) },
	"split":    func(v any, sep string) []string { return strings.Split(text(v), sep) },
	"pad":      func(v any, prefix, suffix int) string { return pad(text(v), prefix, suffix) },
	"truncate": func(v any, n int) string { return truncate(text(v), n) },
}

func text(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

func jsonString(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSpace(b.String())
}

// title upper-cases the first letter of each word (strings.Title, which
// podman uses, is deprecated).
func title(s string) string {
	prev := ' '
	return strings.Map(func(r rune) rune {
		defer func() { prev = r }()
		if unicode.IsSpace(prev) {
			return unicode.ToTitle(r)
		}
		return r
	}, s)
}

func pad(s string, prefix, suffix int) string {
	if s == "" {
		return s
	}
	return strings.Repeat(" ", prefix) + s + strings.Repeat(" ", suffix)
}

func truncate(s string, n int) string {
	if len(s) < n {
		return s
	}
	return s[:n]
}

// Template is a parsed --format.
type Template struct {
	json  bool
	table bool
	// whole: the template ranges over the records itself ({{range .}}).
	whole bool
	t     *template.Template
}

// IsJSON reports whether the format is "json".
func IsJSON(format string) bool { return strings.TrimSpace(format) == "json" }

// IsDefaultTable reports whether the format asks for the command's own
// table ("" or "table" alone).
func IsDefaultTable(format string) bool {
	f := strings.TrimSpace(format)
	return f == "" || f == "table"
}

// rangeAll matches a template that ranges over the records itself.
var rangeAll = regexp.MustCompile(`(?s){{-?\s*range\s*\.\s*-?}}.*{{-?\s*end\s*-?}}`)

var escapes = strings.NewReplacer(`\t`, "\t", `\n`, "\n")

// tableSeparators: in a table, spaces between fields separate columns
// too, as podman has it.
var tableSeparators = strings.NewReplacer(`\t`, "\t", " ", "\t", `\n`, "\n")

// Parse parses a --format given to the command name. A bad template is
// an error naming what is wrong in it.
func Parse(name, format string) (*Template, error) {
	if IsJSON(format) {
		return &Template{json: true}, nil
	}
	t := &Template{}
	text, table := strings.CutPrefix(format, "table ")
	if table {
		t.table = true
		text = tableSeparators.Replace(text)
	} else {
		text = escapes.Replace(format)
	}
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	tt, err := template.New(name).Funcs(funcs).Option("missingkey=default").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%s --format: %w", name, err)
	}
	t.t = tt
	t.whole = !table && rangeAll.MatchString(text)
	return t, nil
}

// IsJSON reports whether the format is "json".
func (t *Template) IsJSON() bool { return t.json }

// IsTable reports whether the format has the table directive.
func (t *Template) IsTable() bool { return t.table }

// Execute prints every item of items (a slice) to w: as one JSON array
// for "json", else the template once per item; a table gets a header row
// first, from headers (a field name's column heading; see Headers). w
// sees nothing unless every item printed: an error leaves no half table.
func (t *Template) Execute(w io.Writer, items any, headers map[string]string) error {
	if t.json {
		return PrintJSON(w, items)
	}
	v := reflect.ValueOf(items)
	if v.Kind() != reflect.Slice {
		return fmt.Errorf("format: %T is not a list", items)
	}
	var buf bytes.Buffer
	if t.whole {
		if err := t.t.Execute(&buf, items); err != nil {
			return fmt.Errorf("%s --format: %w", t.t.Name(), err)
		}
		_, err := w.Write(buf.Bytes())
		return err
	}
	var out io.Writer = &buf
	var tw *tabwriter.Writer
	if t.table {
		// podman's report writer: columns at least 12 wide, 2 apart.
		tw = tabwriter.NewWriter(&buf, 12, 2, 2, ' ', 0)
		out = tw
		if headers != nil {
			// A heading cannot always stand in for its field
			// ({{.State.Pid}} of a string): then there is no header
			// row, rather than no table.
			var h bytes.Buffer
			if err := t.t.Execute(&h, headers); err == nil {
				out.Write(h.Bytes())
			}
		}
	}
	for i := range v.Len() {
		if err := t.t.Execute(out, v.Index(i).Interface()); err != nil {
			return fmt.Errorf("%s --format: %w", t.t.Name(), err)
		}
	}
	if tw != nil {
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// PrintJSON prints v as indented JSON, as podman does.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// Headers are the column headings of a table of records of type v (a
// struct): each field's name, split at its words and upper-cased
// ("CreatedAt" is "CREATED AT"), as podman makes them; overrides, for a
// field name, give its heading instead.
func Headers(v any, overrides map[string]string) map[string]string {
	rt := reflect.TypeOf(v)
	for rt.Kind() == reflect.Pointer {
		rt = rt.Elem()
	}
	h := map[string]string{}
	for i := range rt.NumField() {
		f := rt.Field(i)
		if !f.IsExported() {
			continue
		}
		h[f.Name] = strings.ToUpper(strings.Join(splitCamel(f.Name), " "))
	}
	for k, s := range overrides {
		h[k] = strings.ToUpper(s)
	}
	return h
}

// splitCamel splits "CreatedAt" into "Created", "At" and "ImageID" into
// "Image", "ID".
func splitCamel(s string) []string {
	var words []string
	r := []rune(s)
	start := 0
	for i := 1; i < len(r); i++ {
		lowerToUpper := unicode.IsLower(r[i-1]) && unicode.IsUpper(r[i])
		acronymEnd := unicode.IsUpper(r[i-1]) && unicode.IsUpper(r[i]) && i+1 < len(r) && unicode.IsLower(r[i+1])
		if lowerToUpper || acronymEnd {
			words = append(words, string(r[start:i]))
			start = i
		}
	}
	return append(words, string(r[start:]))
}
