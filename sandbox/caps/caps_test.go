package caps

import (
	"reflect"
	"strings"
	"testing"
)

func TestCompute(t *testing.T) {
	tests := []struct {
		add, drop []string
		want      []string
		err       string
	}{
		{nil, nil, sorted(Default), ""},
		{[]string{"NET_ADMIN"}, []string{"cap_chown", "NET_RAW"}, without(append(sorted(Default), "NET_ADMIN"), "CHOWN", "NET_RAW"), ""},
		{[]string{"CHOWN"}, []string{"ALL"}, []string{"CHOWN"}, ""},
		{[]string{"ALL"}, nil, All(), ""},
		{[]string{"NOPE"}, nil, nil, `unknown capability "NOPE"`},
	}
	for _, tt := range tests {
		got, err := Compute(tt.add, tt.drop)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%v/%v: err %v", tt.add, tt.drop, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, sorted(tt.want)) {
			t.Errorf("%v/%v: got %v %v, want %v", tt.add, tt.drop, got, err, sorted(tt.want))
		}
	}
}

func sorted(l []string) []string {
	out := append([]string(nil), l...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func without(l []string, drop ...string) []string {
	var out []string
	for _, c := range l {
		keep := true
		for _, d := range drop {
			if c == d {
				keep = false
			}
		}
		if keep {
			out = append(out, c)
		}
	}
	return out
}
