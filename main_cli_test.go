package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCommandErrorsArePlainLines: an error is one line, "Error: ...", with
// no log timestamp, and the exit status is 1.
func TestCommandErrorsArePlainLines(t *testing.T) {
	bin := pocketclerk(t)
	dir := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CLERK_") && !strings.HasPrefix(kv, "REPLICA_URL=") {
			env = append(env, kv)
		}
	}
	timestamp := regexp.MustCompile(`^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d`)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"clerk", "send"}, "Error: name one event type to send: user.created, user.updated, user.deleted"},
		{[]string{"clerk", "sync", "--dir", filepath.Join(dir, "pb_data"), "--dev=false"}, "Error: CLERK_SECRET_KEY is not set"},
		{[]string{"clerk", "snyc", "--dir", filepath.Join(dir, "pb_data")}, `Error: unknown command "snyc" for "pocketclerk clerk"; did you mean pocketclerk clerk sync?`},
		{[]string{"serve", "--replica", "ftp://backups/pb", "--dir", filepath.Join(dir, "pb_data")}, `Error: REPLICA_URL "ftp://backups/pb": this binary replicates to file:// and s3:// only, not ftp://`},
		{[]string{"restore", "--dir", filepath.Join(dir, "restored")}, "Error: restore needs the replica: --from s3://bucket/path (or file:///path), or REPLICA_URL set as the server has it"},
		{[]string{"restore", "--from", "file://" + filepath.Join(dir, "no-replica"), "--dir", filepath.Join(dir, "restored")}, "Error: the replica file://" + filepath.Join(dir, "no-replica") + " holds no database"},
	} {
		cmd := exec.Command(bin, c.args...)
		cmd.Env = env
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 {
			t.Errorf("%v: exit %v, want status 1", c.args, err)
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], c.want) || timestamp.MatchString(lines[0]) {
			t.Errorf("%v printed %q, want one line starting %q", c.args, stderr.String(), c.want)
		}
	}
}

// --help names the variables that configure the Clerk part.
func TestHelpNamesTheClerkVariables(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"clerk", "--help"}} {
		out, err := run(t, t.TempDir(), nil, args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		for _, want := range []string{"CLERK_WEBHOOK_SECRET", "CLERK_SECRET_KEY", "CLERK_PUBLISHABLE_KEY", "CLERK_SYNC_SCHEDULE", "serve"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v does not mention %s:\n%s", args, want, out)
			}
		}
	}
}
