package format

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// PrintYAML prints v (structs with json tags, maps, slices and scalars)
// as YAML, the way podman info prints its record when no --format is
// given: struct fields in order under their JSON names, map keys sorted.
// It is a printer for such records, not a YAML library.
func PrintYAML(w io.Writer, v any) error {
	var b strings.Builder
	yamlValue(&b, reflect.ValueOf(v), 0, false)
	_, err := io.WriteString(w, b.String())
	return err
}

// yamlValue writes v at indentation level ind. inline: the caller has
// written "key:" and waits for a scalar on the same line or a block below.
func yamlValue(b *strings.Builder, v reflect.Value, ind int, inline bool) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			b.WriteString(" null\n")
			return
		}
		v = v.Elem()
	}
	pad := strings.Repeat("  ", ind)
	switch v.Kind() {
	case reflect.Struct:
		keys, vals := structFields(v)
		if len(keys) == 0 {
			b.WriteString(" {}\n")
			return
		}
		if inline {
			b.WriteString("\n")
		}
		for i, k := range keys {
			b.WriteString(pad + k + ":")
			yamlValue(b, vals[i], ind+1, true)
		}
	case reflect.Map:
		if v.Len() == 0 {
			b.WriteString(" {}\n")
			return
		}
		if inline {
			b.WriteString("\n")
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, c reflect.Value) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(c)) })
		for _, k := range keys {
			b.WriteString(pad + fmt.Sprint(k) + ":")
			yamlValue(b, v.MapIndex(k), ind+1, true)
		}
	case reflect.Slice, reflect.Array:
		if v.Len() == 0 {
			b.WriteString(" []\n")
			return
		}
		b.WriteString("\n")
		// Items of a list under a key sit at the key's indentation.
		itemPad := strings.Repeat("  ", max(ind-1, 0))
		for i := range v.Len() {
			var item strings.Builder
			yamlValue(&item, v.Index(i), ind, false)
			s := strings.TrimLeft(item.String(), " ")
			b.WriteString(itemPad + "- " + strings.TrimPrefix(s, "\n"))
		}
	default:
		b.WriteString(" " + yamlScalar(v) + "\n")
	}
}

func structFields(v reflect.Value) ([]string, []reflect.Value) {
	var keys []string
	var vals []reflect.Value
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		keys = append(keys, name)
		vals = append(vals, v.Field(i))
	}
	return keys, vals
}

// yamlScalar quotes a string that YAML would read as something else.
func yamlScalar(v reflect.Value) string {
	if v.Kind() != reflect.String {
		return fmt.Sprint(v.Interface())
	}
	s := v.String()
	_, numErr := strconv.ParseFloat(s, 64)
	if s == "" || numErr == nil || strings.ContainsAny(s, ":#\n\"'{}[],&*!|>%@`") ||
		s != strings.TrimSpace(s) || slices.Contains([]string{"true", "false", "null", "yes", "no", "~"}, strings.ToLower(s)) {
		q, _ := json.Marshal(s)
		return string(q)
	}
	return s
}
