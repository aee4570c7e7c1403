package hooks

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// pageSecurityHeaders sends, with every page that pb_public serves (not
// the API, not the dashboard at /_/, whose own needs differ), a
// Content-Security-Policy that allows what the profile page needs and
// nothing else: its own files, the Frontend API of the configured Clerk
// instance (scripts and requests), Clerk's image host, and Cloudflare's
// bot protection that Clerk's sign-in shows. Clerk's components style
// themselves at runtime, hence the inline styles.
func (p *plugin) pageSecurityHeaders(e *core.RequestEvent) error {
	path := e.Request.URL.Path
	if e.Request.Method == http.MethodGet && !strings.HasPrefix(path, "/api/") && path != "/_" && !strings.HasPrefix(path, "/_/") {
		h := e.Response.Header()
		h.Set("Content-Security-Policy", profilePagePolicy(frontendAPIHost(p.config.PublishableKey)))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
	}
	return e.Next()
}

func profilePagePolicy(frontendAPI string) string {
	clerk := ""
	if frontendAPI != "" {
		clerk = " https://" + frontendAPI
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'" + clerk + " https://challenges.cloudflare.com",
		"connect-src 'self'" + clerk,
		"img-src 'self' https://img.clerk.com data:",
		"style-src 'self' 'unsafe-inline'",
		"worker-src 'self' blob:",
		"frame-src https://challenges.cloudflare.com",
		"object-src 'none'",
		"base-uri 'self'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
}

var hostName = regexp.MustCompile(`^[a-zA-Z0-9.-]+(:[0-9]+)?$`)

// frontendAPIHost is the Clerk Frontend API host that a publishable key
// names: pk_test_ or pk_live_, then base64 of "host$". Empty when the key
// is not one.
func frontendAPIHost(publishableKey string) string {
	parts := strings.SplitN(publishableKey, "_", 3)
	if len(parts) != 3 || parts[0] != "pk" {
		return ""
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(parts[2], "="))
	if err != nil {
		return ""
	}
	host := strings.TrimSuffix(string(raw), "$")
	if !hostName.MatchString(host) {
		return ""
	}
	return host
}

// ProfilePageTopics are the realtime subscriptions that the shipped profile
// page (pb_public/app.js, pb_public/organizations.js) holds for a signed-in
// client, one list per connection, as the page writes them: one connection,
// on its own record, its memberships, organizations and subscription items.
// The bench holds exactly these, and the browser test checks that the page
// does.
func ProfilePageTopics(clientRecordID string) [][]string {
	options, _ := json.Marshal(map[string]any{"query": map[string]string{
		"expand": "organization",
		"filter": `client = "` + clientRecordID + `"`,
	}})
	// The items' rule shows the client its own and its organizations': no filter.
	itemsOptions, _ := json.Marshal(map[string]any{"query": map[string]string{"expand": migrations.FieldPlan}})
	return [][]string{{
		migrations.ClientsCollection + "/" + clientRecordID,
		migrations.MembershipsCollection + "/*?options=" + encodeURIComponent(string(options)),
		migrations.OrganizationsCollection + "/*",
		migrations.SubscriptionItemsCollection + "/*?options=" + encodeURIComponent(string(itemsOptions)),
	}}
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
