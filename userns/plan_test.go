package userns

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"
)

type fakeInfo struct {
	mode fs.FileMode
}

func (f fakeInfo) Name() string       { return "x" }
func (f fakeInfo) Size() int64        { return 0 }
func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return false }
func (f fakeInfo) Sys() any           { return nil }

func fakeHost(files map[string]string, helperMode fs.FileMode, caps bool) Host {
	return Host{
		ReadFile: func(p string) ([]byte, error) {
			if s, ok := files[p]; ok {
				return []byte(s), nil
			}
			return nil, os.ErrNotExist
		},
		LookPath: func(n string) (string, error) {
			if helperMode == 0 {
				return "", errors.New("not found")
			}
			return "/usr/bin/" + n, nil
		},
		Stat:        func(string) (os.FileInfo, error) { return fakeInfo{helperMode}, nil },
		HasFileCaps: func(string) bool { return caps },
		SubUID:      "/etc/subuid",
		SubGID:      "/etc/subgid",
	}
}

func TestPlan(t *testing.T) {
	ranges := map[string]string{"/etc/subuid": "u:100000:65536\n", "/etc/subgid": "u:100000:65536\n"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range ranges {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name     string
		files    map[string]string
		helper   fs.FileMode
		caps     bool
		wantMode Mode
		wantErr  string
	}{
		{"full", ranges, 0o755 | fs.ModeSetuid, false, Full, ""},
		{"full with file caps", ranges, 0o755, true, Full, ""},
		{"no range falls back", map[string]string{}, 0o755 | fs.ModeSetuid, false, Single, ""},
		{"only subuid falls back", map[string]string{"/etc/subuid": "u:1:5\n"}, 0o755 | fs.ModeSetuid, false, Single, ""},
		{"helper missing", ranges, 0, false, 0, "apt-get install uidmap"},
		{"helper not setuid", ranges, 0o755, false, 0, "chmod u+s /usr/bin/newuidmap"},
		{"max namespaces 0", with(map[string]string{"/proc/sys/user/max_user_namespaces": "0\n"}), 0o755 | fs.ModeSetuid, false, 0, "user.max_user_namespaces"},
		{"debian clone sysctl", with(map[string]string{"/proc/sys/kernel/unprivileged_userns_clone": "0\n"}), 0o755 | fs.ModeSetuid, false, 0, "unprivileged_userns_clone=1"},
		{"ubuntu apparmor", with(map[string]string{"/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1\n"}), 0o755 | fs.ModeSetuid, false, 0, "apparmor_restrict_unprivileged_userns=0"},
		{"apparmor off", with(map[string]string{"/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "0\n"}), 0o755 | fs.ModeSetuid, false, Full, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := fakeHost(tt.files, tt.helper, tt.caps).Plan(1000, 1000, "u")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Mode != tt.wantMode {
				t.Fatalf("mode %v, want %v", p.Mode, tt.wantMode)
			}
			if p.Mode == Single && !strings.Contains(p.Warning, "usermod --add-subuids") {
				t.Fatalf("single mode without a fix in the warning: %q", p.Warning)
			}
			if p.Mode == Full && Size(p.UIDMap) != 65537 {
				t.Fatalf("uid map %v", p.UIDMap)
			}
		})
	}
}
