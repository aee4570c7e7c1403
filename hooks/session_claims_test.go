package hooks

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/inflector"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// The claims each token of the claim tests carries, in both versions of
// Clerk's session token, and the headers that rules must read for them.
var claimCases = []struct {
	name   string
	v1, v2 func(c claims)
	want   map[string]string // by the name rules read; the session id is added
}{
	{
		name: "every claim",
		v1: func(c claims) {
			delete(c, "v")
			c["org_id"], c["org_slug"], c["org_role"] = "org_1", "acme", "org:admin"
			c["org_permissions"] = []string{"org:posts:edit", "org:posts:read"}
			c["fea"], c["pla"] = "o:posts,u:beta", "o:pro"
			c["fva"] = []int64{3, 7}
			c["act"] = map[string]any{"sub": "user_support", "iss": "https://dashboard.clerk.com"}
		},
		v2: func(c claims) {
			c["o"] = map[string]any{"id": "org_1", "slg": "acme", "rol": "admin", "per": "edit,read", "fpm": "3"}
			c["fea"], c["pla"] = "o:posts,u:beta", "o:pro"
			c["fva"] = []int64{3, 7}
			c["act"] = map[string]any{"sub": "user_support", "iss": "https://dashboard.clerk.com"}
		},
		want: map[string]string{
			"x_clerk_org_id": "org_1", "x_clerk_org_slug": "acme", "x_clerk_org_role": "org:admin",
			"x_clerk_org_permissions": ",org:posts:edit,org:posts:read,", "x_clerk_features": ",org:posts,user:beta,",
			"x_clerk_plan": "o:pro", "x_clerk_factor_age": "7", "x_clerk_actor": "user_support",
		},
	},
	{
		name: "no organization, no second factor",
		v1: func(c claims) {
			delete(c, "v")
			c["fva"] = []int64{0, -1}
		},
		v2: func(c claims) { c["fva"] = []int64{0, -1} },
		want: map[string]string{
			"x_clerk_org_id": "", "x_clerk_org_slug": "", "x_clerk_org_role": "", "x_clerk_org_permissions": "",
			"x_clerk_features": "", "x_clerk_plan": "", "x_clerk_factor_age": "-1", "x_clerk_actor": "",
		},
	},
	{
		// An instance that has not opted in to fva: no age, rather than
		// clerk-sdk-go's [0, 0], "just verified".
		name: "no fva",
		v1:   func(c claims) { delete(c, "v") },
		v2:   func(claims) {},
		want: nil, // those of "no organization, no second factor"
	},
}

func init() { claimCases[2].want = claimCases[1].want }

// claimProbe serves an app with a collection, claim_probe, whose records
// each name a header and a value; its rules pass a record when the request
// (or the subscription) has that header, with that value. The records are
// pairs, each "header=value".
type claimProbe struct {
	*clerkServer
	client *core.Record
}

func newClaimProbe(t *testing.T, indexOff bool, pairs []string) *claimProbe {
	t.Helper()
	app := newTestApp(t)
	probe := core.NewBaseCollection("claim_probe")
	probe.Fields.Add(&core.TextField{Name: "header"}, &core.TextField{Name: "value"})
	var or []string
	for _, n := range claimHeaderNames {
		or = append(or, fmt.Sprintf(`(header = %q && @request.headers.%s:isset = true && value = @request.headers.%s)`, n.rule, n.rule, n.rule))
	}
	rule := strings.Join(append(or, `header = "done"`), " || ")
	// The batch's create: only with the header verified.
	create := `@request.headers.x_clerk_org_id:isset = true && @request.headers.x_clerk_org_id = @request.body.value && @request.body.header = "batch"`
	probe.ListRule, probe.ViewRule, probe.CreateRule = &rule, &rule, &create
	if err := app.Save(probe); err != nil {
		t.Fatal(err)
	}
	for _, pair := range pairs {
		name, value, _ := strings.Cut(pair, "=")
		r := core.NewRecord(probe)
		r.Set("header", name)
		r.Set("value", value)
		if err := app.Save(r); err != nil {
			t.Fatal(err)
		}
	}
	done := core.NewRecord(probe)
	done.Set("header", "done")
	if err := app.Save(done); err != nil {
		t.Fatal(err)
	}
	app.Settings().Batch.Enabled = true
	app.Settings().Batch.MaxRequests = 10
	if err := app.Save(app.Settings()); err != nil {
		t.Fatal(err)
	}
	srv := serveWithClerk(t, app, Config{RealtimeIndexOff: indexOff})
	deliver(t, srv.URL, "msg_a", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))
	return &claimProbe{clerkServer: srv, client: clientOf(t, app, userA)}
}

// seen lists the header=value pairs that a request with these headers
// passes the rules of.
func (p *claimProbe) seen(t *testing.T, authorization string, headers map[string]string) []string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.URL+"/api/collections/claim_probe/records?perPage=500", nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	for k, v := range headers {
		req.Header[k] = []string{v} // as spelt, not canonicalised
	}
	r := do(t, req)
	if r.Status != http.StatusOK {
		t.Fatalf("listing the probe: %d %v", r.Status, r.Body)
	}
	var out []string
	for _, item := range r.Body["items"].([]any) {
		if rec := item.(map[string]any); rec["header"] != "done" {
			out = append(out, fmt.Sprintf("%s=%s", rec["header"], rec["value"]))
		}
	}
	slices.Sort(out)
	return out
}

// heard lists the header=value pairs whose records' changes reach a
// connection subscribed to the probe with these subscriptions.
func (p *claimProbe) heard(t *testing.T, authorization string, subscriptions ...string) []string {
	t.Helper()
	conn := connectRealtime(t, p.URL)
	conn.subscribe(t, authorization, subscriptions...)
	records, err := p.app.FindAllRecords("claim_probe")
	if err != nil {
		t.Fatal(err)
	}
	// The sentinel last; messages may still overtake each other.
	slices.SortFunc(records, func(a, b *core.Record) int { return strings.Compare(b.GetString("header"), a.GetString("header")) })
	for _, r := range records {
		if r.GetString("header") == "done" {
			continue
		}
		r.Set("value", r.GetString("value")) // an update without a change
		if err := p.app.Save(r); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range records {
		if r.GetString("header") == "done" {
			if err := p.app.Save(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	var out []string
	collect := func(ev sseEvent) bool {
		if !slices.Contains(subscriptions, ev.Name) {
			t.Errorf("a message named %q: the connection subscribed to %q", ev.Name, subscriptions)
		}
		rec := ev.Record()
		if rec["header"] == "done" {
			return true
		}
		out = append(out, fmt.Sprintf("%s=%s", rec["header"], rec["value"]))
		return false
	}
	for !collect(conn.next(t)) {
	}
	for deadline := time.After(300 * time.Millisecond); ; {
		select {
		case ev := <-conn.events:
			collect(ev)
			continue
		case <-deadline:
		}
		break
	}
	slices.Sort(out)
	return out
}

func pairsOf(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// Forged headers, as a client might spell them: PocketBase snake-cases
// every one of them to x_clerk_….
var forgedHeaders = map[string]string{
	"X-Clerk-Org-Id":          "org_1",
	"x_clerk_org_role":        "org:admin",
	"X-CLERK-ORG-PERMISSIONS": ",org:posts:edit,",
	"x.clerk.factor.age":      "7",
	"X-Clerk-Actor":           "user_support",
	"X-Clerk_Org_Slug":        "acme",
}

func optionsWithHeaders(topic string, headers map[string]string) string {
	raw, _ := json.Marshal(map[string]any{"headers": headers})
	return topic + "?options=" + encodeURIComponent(string(raw))
}

// Each claim of a verified session token reaches rules as its header, on
// REST and in realtime, alike for tokens of version 1 and 2; a header that
// a client sends, in any spelling, on any request, in a subscription's
// options or in a batch, never does.
func TestSessionClaimsReachRulesAndCannotBeForged(t *testing.T) {
	t.Parallel()
	// Every value that a case expects, and every forged one.
	var all [][]string
	var pairs []string
	for _, c := range claimCases {
		want := map[string]string{"x_clerk_session_id": "sess_" + userA}
		maps.Copy(want, c.want)
		all = append(all, pairsOf(want))
		pairs = append(pairs, pairsOf(want)...)
	}
	for name, value := range forgedHeaders {
		pairs = append(pairs, inflector.Snakecase(name)+"="+value)
	}
	slices.Sort(pairs)
	p := newClaimProbe(t, false, slices.Compact(pairs))

	for i, c := range claimCases {
		want := all[i]
		for version, set := range map[string]func(claims){"v1": c.v1, "v2": c.v2} {
			cl := validClaims(userA)
			set(cl)
			token := "Bearer " + p.key.sign(t, cl)
			if got := p.seen(t, token, nil); !slices.Equal(got, want) {
				t.Errorf("%s, %s, REST: rules read %q, want %q", c.name, version, got, want)
			}
			if got := p.seen(t, token, forgedHeaders); !slices.Equal(got, want) {
				t.Errorf("%s, %s, REST with forged headers: rules read %q, want %q", c.name, version, got, want)
			}
			if got := p.heard(t, token, "claim_probe/*", optionsWithHeaders("claim_probe/*", forgedHeaders)); !slices.Equal(dedupe(got), want) {
				t.Errorf("%s, %s, realtime with forged options: rules read %q, want %q", c.name, version, got, want)
			}
		}
	}

	pbToken := authToken(t, p.client)
	for who, authorization := range map[string]string{"a guest": "", "a PocketBase token": pbToken} {
		if got := p.seen(t, authorization, forgedHeaders); len(got) != 0 {
			t.Errorf("%s with forged headers: rules read %q, want none", who, got)
		}
		// A second "headers" fails PocketBase's decoding after it kept the first.
		twice := "claim_probe/*?options=" + encodeURIComponent(`{"headers":{"x-clerk-org-id":"org_1"},"headers":{}}`)
		if got := p.heard(t, authorization, optionsWithHeaders("claim_probe/*", forgedHeaders), twice); len(got) != 0 {
			t.Errorf("%s with forged subscription options: rules read %q, want none", who, got)
		}
	}

	// The batch API applies each request's headers over the batch's own.
	batch := func(authorization string) int {
		body, _ := json.Marshal(map[string]any{"requests": []map[string]any{{
			"method": http.MethodPost, "url": "/api/collections/claim_probe/records",
			"headers": map[string]string{"X-Clerk-Org-Id": "org_1", "x_clerk_org_id": "org_1"},
			"body":    map[string]any{"header": "batch", "value": "org_1"},
		}}})
		return send(t, http.MethodPost, p.URL+"/api/batch", authorization, string(body)).Status
	}
	noOrg := validClaims(userA)
	if status := batch("Bearer " + p.key.sign(t, noOrg)); status == http.StatusOK {
		t.Error("a batch request forging x-clerk-org-id passed a rule on it")
	}
	if status := batch(pbToken); status == http.StatusOK {
		t.Error("a batch request forging x-clerk-org-id with a PocketBase token passed a rule on it")
	}
	withOrg := validClaims(userA)
	claimCases[0].v2(withOrg)
	if status := batch("Bearer " + p.key.sign(t, withOrg)); status != http.StatusOK {
		t.Errorf("a batch request of a session in org_1: %d, want its verified header to pass the rule", status)
	}
}

func dedupe(s []string) []string { return slices.Compact(slices.Clone(s)) }

// A rule on the session's headers, on the clients' own records: checked
// alike with the realtime index on and off. Each
// message keeps the name the client subscribed with; a forged header in the
// options widens nothing; a new token takes effect at the next subscribe.
func TestSessionHeadersInRealtimeWithTheIndexOnAndOff(t *testing.T) {
	t.Parallel()
	for _, off := range []bool{false, true} {
		t.Run(fmt.Sprintf("index off %v", off), func(t *testing.T) {
			t.Parallel()
			app := newTestApp(t)
			clients, err := app.FindCollectionByNameOrId(migrations.ClientsCollection)
			if err != nil {
				t.Fatal(err)
			}
			rule := migrations.OwnRecordRule + ` && @request.headers.x_clerk_org_id = "org_1"`
			clients.ViewRule = &rule
			if err := app.Save(clients); err != nil {
				t.Fatal(err)
			}
			srv := serveWithClerk(t, app, Config{RealtimeIndexOff: off})
			deliver(t, srv.URL, "msg_a", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))
			id := clientOf(t, app, userA).Id
			inOrg := func(org string) string {
				c := validClaims(userA)
				c["o"] = map[string]any{"id": org, "slg": org, "rol": "member"}
				return "Bearer " + srv.key.sign(t, c)
			}
			own := "clients/" + id
			picked, _ := json.Marshal(map[string]any{"query": map[string]string{"fields": "firstName"}, "headers": map[string]string{"x-clerk-org-id": "org_2"}})
			withFields := own + "?options=" + encodeURIComponent(string(picked))

			member := connectRealtime(t, srv.URL)
			member.subscribe(t, inOrg("org_1"), own)
			forger := connectRealtime(t, srv.URL)
			forger.subscribe(t, inOrg("org_2"), optionsWithHeaders(own, map[string]string{"X-Clerk-Org-Id": "org_1"}))
			fields := connectRealtime(t, srv.URL)
			fields.subscribe(t, inOrg("org_1"), withFields)
			if !off {
				mustBeDetached(t, app, member.clientID, false)
				mustBeDetached(t, app, fields.clientID, false)
			}

			deliver(t, srv.URL, "msg_a2", clerkfake.Event(eventUserUpdated, clerkfake.NewUser(userA, "Alicia", 2000)))
			if ev := member.next(t); ev.Name != own || ev.Record()["firstName"] != "Alicia" {
				t.Errorf("acting in org_1: %+v, want the update named %s", ev, own)
			}
			if ev := fields.next(t); ev.Name != withFields || len(ev.Record()) != 1 || ev.Record()["firstName"] != "Alicia" {
				t.Errorf("acting in org_1, with fields: %+v, want the update named as subscribed, its firstName alone", ev)
			}
			forger.noEvent(t, 300*time.Millisecond)

			// Clerk's active organization changes: the next subscribe applies it.
			member.subscribe(t, inOrg("org_2"), own)
			deliver(t, srv.URL, "msg_a3", clerkfake.Event(eventUserUpdated, clerkfake.NewUser(userA, "Ali", 3000)))
			fields.next(t)
			member.noEvent(t, 300*time.Millisecond)
		})
	}
}
