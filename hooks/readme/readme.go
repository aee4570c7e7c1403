// Package readme hands tests the code blocks of the README, so that they run
// its recipes as written there rather than retyped.
package readme

import (
	"os"
	"strings"
	"testing"
)

// Block is the fenced code block of the Markdown file at path whose code
// starts with start (the line after the fence and its language); the test
// fails when there is none.
func Block(t testing.TB, path, start string) string {
	t.Helper()
	markdown, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(markdown), "```")
	for i := 1; i < len(blocks); i += 2 {
		_, code, _ := strings.Cut(blocks[i], "\n")
		if strings.HasPrefix(code, start) {
			return code
		}
	}
	t.Fatalf("%s has no code block starting with %q", path, start)
	return ""
}
