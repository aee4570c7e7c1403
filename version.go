package main

import (
	"fmt"
	"runtime/debug"
)

// version and commit are stamped by "make build" and "make release"
// (-ldflags "-X main.version=v1.2.3 -X main.commit=..."); a build of a
// commit without a release tag is stamped sourceBuild. Unstamped (go build,
// go run), they come from what the go command records in the binary.
var (
	version string
	commit  string
)

// versionString is what "pocketclerk --version" prints after the name:
// the release, the commit it was built from and PocketBase's version.
func versionString() string {
	v, c, pb := version, commit, "(unknown)"
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" {
			v = info.Main.Version
		}
		var revision string
		var modified bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if c == "" && revision != "" {
			c = revision[:min(12, len(revision))]
			if modified {
				c += " with uncommitted changes"
			}
		}
		for _, dep := range info.Deps {
			if dep.Path == "github.com/pocketbase/pocketbase" {
				pb = dep.Version
			}
		}
	}
	if v == "" || v == "(devel)" || v == sourceBuild {
		// No release: say so, and what it was built from.
		v = "built from source, not a release"
	}
	if c == "" {
		c = "(unknown: not built from a git checkout)"
	}
	return fmt.Sprintf("%s (commit %s, PocketBase %s)", v, c, pb)
}

// sourceBuild is the version the Makefile stamps when the commit has no
// release tag.
const sourceBuild = "source"
