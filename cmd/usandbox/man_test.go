package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	docs "github.com/urfave/cli-docs/v3"
	"github.com/urfave/cli/v3"
)

// TestManPages writes the man pages from the command tree: usandbox.1
// for the whole tree and usandbox-COMMAND.1 for each command, as podman
// has them. make man runs it with USANDBOX_MAN_DIR=man/man1; otherwise
// it writes them to a temporary directory and checks them. (A test, so
// that the usandbox binary does not link the generator.)
func TestManPages(t *testing.T) {
	dir := os.Getenv("USANDBOX_MAN_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	app := newApp()
	pages, err := manPages(app)
	if err != nil {
		t.Fatal(err)
	}
	for name, page := range pages {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"usandbox.1", "usandbox-run.1", "usandbox-rename.1", "usandbox-system.1", "usandbox-image.1"} {
		b, err := os.ReadFile(filepath.Join(dir, want))
		if err != nil {
			t.Fatalf("no %s: %v", want, err)
		}
		if !strings.HasPrefix(string(b), ".nh\n.TH ") || !strings.Contains(string(b), ".SH NAME") {
			t.Fatalf("%s is not a man page:\n%.300s", want, b)
		}
	}
	run, _ := os.ReadFile(filepath.Join(dir, "usandbox-run.1"))
	if !strings.Contains(string(run), "publish") {
		t.Fatalf("usandbox-run.1 does not document --publish:\n%.2000s", run)
	}
	if _, err := os.Stat(filepath.Join(dir, "usandbox-help.1")); err == nil {
		t.Fatal("a page for the help command")
	}
}

// manPages are the pages of app and of each visible command under it.
func manPages(app *cli.Command) (map[string]string, error) {
	pages := map[string]string{}
	page, err := docs.ToManWithSection(app, 1)
	if err != nil {
		return nil, err
	}
	pages["usandbox.1"] = page
	for _, c := range app.VisibleCommands() {
		if c.Name == "help" {
			continue
		}
		// A page of its own, named as podman's are (usandbox-run).
		sub := *c
		sub.Name = app.Name + "-" + c.Name
		if sub.UsageText == "" {
			sub.UsageText = strings.TrimSpace(app.Name + " [GLOBAL OPTIONS] " + c.Name + " [OPTIONS] " + c.ArgsUsage)
			if len(c.Commands) > 0 {
				sub.UsageText = app.Name + " " + c.Name + " COMMAND [OPTIONS] [ARGUMENTS...]"
			}
		}
		page, err := docs.ToManWithSection(&sub, 1)
		if err != nil {
			return nil, err
		}
		pages[sub.Name+".1"] = page
	}
	return pages, nil
}
