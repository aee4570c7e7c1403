package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pocketclerk/pocketclerk/hooks/readme"
)

// readmeBlock is the code block of README.md whose code starts with
// start, as written there.
func readmeBlock(t testing.TB, start string) string {
	t.Helper()
	return readme.Block(t, "README.md", start)
}

// The README's main.go of an app that adds PocketClerk to its own
// PocketBase compiles as written, against this module.
func TestReadmeOwnMainGoCompiles(t *testing.T) {
	src := readmeBlock(t, "package main\n")
	if !strings.Contains(src, "hooks.Register(app, app.RootCmd, config)") {
		t.Fatalf("not the main.go of \"Use it from your own PocketBase main.go\":\n%s", src)
	}
	// An overlay places the file in the module, in docs/ (which holds no Go
	// package), without writing to it.
	dir := t.TempDir()
	file := filepath.Join(dir, "main.go")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{filepath.Join(root, "docs", "readme_main.go"): file}})
	overlayFile := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "vet", "-overlay", overlayFile, "./docs")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the README's main.go does not compile: %v\n%s", err, out)
	}
}
