package userns

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseSubIDs(t *testing.T) {
	const file = `# comment
alice:100000:65536

bob:165536:65536
1001:231072:1000
alice:300000:10
alice:bad:10
alice:400000
alice:500000:0
carol:4294967000:1000
`
	tests := []struct {
		name string
		id   uint32
		want []Range
	}{
		{"alice", 1000, []Range{{100000, 65536}, {300000, 10}}},
		{"bob", 1002, []Range{{165536, 65536}}},
		{"dave", 1001, []Range{{231072, 1000}}}, // by numeric uid
		{"nobody", 65534, nil},
		{"carol", 1003, nil}, // overflows the 32-bit ID space
	}
	for _, tt := range tests {
		got, err := ParseSubIDs(strings.NewReader(file), tt.name, tt.id)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s/%d: got %v, want %v", tt.name, tt.id, got, tt.want)
		}
	}
}

func TestFullMap(t *testing.T) {
	got := FullMap(1000, []Range{{100000, 65536}, {300000, 10}})
	want := []IDMap{{0, 1000, 1}, {1, 100000, 65536}, {65537, 300000, 10}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if Size(got) != 65547 {
		t.Fatalf("size %d", Size(got))
	}
	if h, ok := ToHost(got, 1000); !ok || h != 100999 {
		t.Fatalf("ToHost(1000) = %d, %v", h, ok)
	}
	if _, ok := ToHost(got, 65547); ok {
		t.Fatal("ToHost past the end should fail")
	}
	if a := strings.Join(helperArgs(got), " "); a != "0 1000 1 1 100000 65536 65537 300000 10" {
		t.Fatalf("helper args %q", a)
	}
}

func TestParseIDMap(t *testing.T) {
	got, err := ParseIDMap(strings.NewReader("         0       1000          1\n         1     100000      65536\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []IDMap{{0, 1000, 1}, {1, 100000, 65536}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	if _, err := ParseIDMap(strings.NewReader("0 1\n")); err == nil {
		t.Fatal("short line accepted")
	}
}
