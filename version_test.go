package main

import (
	"strings"
	"testing"
)

// A binary built from a commit without a release tag says so, and names
// what it was built from.
func TestVersionOfASourceBuild(t *testing.T) {
	saved, savedCommit := version, commit
	t.Cleanup(func() { version, commit = saved, savedCommit })
	for _, stamped := range []string{sourceBuild, ""} {
		version, commit = stamped, "0123456789ab-dirty"
		got := versionString()
		if !strings.HasPrefix(got, "built from source, not a release (commit 0123456789ab-dirty, PocketBase ") {
			t.Errorf("version %q: --version says %q", stamped, got)
		}
	}
	version, commit = "v1.2.0", "0123456789ab"
	if got := versionString(); !strings.HasPrefix(got, "v1.2.0 (commit 0123456789ab, ") {
		t.Errorf("a release says %q", got)
	}
}
