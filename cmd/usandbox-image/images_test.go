package main

import "testing"

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{2130110: "2.13 MB", 999: "999 B", 51e6: "51 MB", 1500: "1.5 kB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}
