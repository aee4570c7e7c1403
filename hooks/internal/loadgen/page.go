package loadgen

import (
	"encoding/json"
	"strings"
)

// PageTopics are the realtime subscriptions that the shipped profile page
// (pb_public/app.js, pb_public/organizations.js) opens for a signed-in
// client, one list per connection, as the page writes them: the bench
// holds exactly these, and the browser test checks that the page does.
func PageTopics(clientRecordID string) [][]string {
	options, _ := json.Marshal(map[string]any{"query": map[string]string{
		"expand": "organization",
		"filter": `client = "` + clientRecordID + `"`,
	}})
	return [][]string{
		{"clients/" + clientRecordID},
		{"memberships/*?options=" + encodeURIComponent(string(options)), "organizations/*"},
	}
}

// encodeURIComponent escapes s as JavaScript's encodeURIComponent does.
func encodeURIComponent(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
