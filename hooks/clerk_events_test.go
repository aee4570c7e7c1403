package hooks

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// webhookSpecFile is Clerk's webhook spec, from github.com/clerk/openapi-specs
// (webhooks/2025-04-15.yml at commit 7987d1b, 2026-08-14).
const webhookSpecFile = "../testdata/clerk/webhooks-2025-04-15.yml"

// clerkEventExamples are the example of each event type of Clerk's webhook
// spec, by type, as Clerk sends them (quirks included: an envelope timestamp
// in seconds, "organization_id": "" for a user payer).
func clerkEventExamples(t testing.TB) map[string][]byte {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(webhookSpecFile)
	if err != nil {
		t.Fatal(err)
	}
	var hooks map[string]struct {
		Post struct {
			RequestBody struct {
				Content map[string]struct {
					Example  any `json:"example"`
					Examples map[string]struct {
						Ref string `json:"$ref"`
					} `json:"examples"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"post"`
	}
	raw, err := json.Marshal(doc.Extensions["x-webhooks"])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &hooks); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for typ, hook := range hooks {
		content := hook.Post.RequestBody.Content["application/json"]
		example := content.Example
		if example == nil {
			ref := content.Examples["default"].Ref
			named := doc.Components.Examples[strings.TrimPrefix(ref, "#/components/examples/")]
			if named == nil || named.Value == nil {
				t.Fatalf("%s: no example (%q)", typ, ref)
			}
			example = named.Value.Value
		}
		env, ok := example.(map[string]any)
		if !ok {
			t.Fatalf("%s: the example is not an object", typ)
		}
		// One example may serve several types (subscription.created,
		// .updated, ...): the delivery names its own.
		env["type"] = typ
		body, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		out[typ] = body
	}
	return out
}

// keptEvents are the event types that PocketClerk keeps, in an order Clerk
// may send them, with the outcome of each; every other type is
// acknowledged as ignored.
var keptEvents = []struct {
	typ     string
	outcome string
}{
	{"user.created", migrations.OutcomeCreated},
	{"user.updated", migrations.OutcomeUpdated},
	{"organization.created", migrations.OutcomeCreated},
	{"organization.updated", migrations.OutcomeUpdated},
	{"organizationMembership.created", migrations.OutcomeCreated},
	{"organizationMembership.updated", migrations.OutcomeUpdated},
	{"organizationMembership.deleted", migrations.OutcomeDeleted},
	{"organization.deleted", migrations.OutcomeDeleted},
	// Clerk Billing's examples are one item of one user, in the order of
	// their updated_at; an event of the same time and data as the one
	// before changes nothing.
	{"subscriptionItem.incomplete", migrations.OutcomeCreated},
	{"subscriptionItem.upcoming", migrations.OutcomeUpdated},
	{"subscriptionItem.active", migrations.OutcomeUpdated}, // a free plan, period_end null
	{"subscriptionItem.freeTrialEnding", migrations.OutcomeUpdated},
	{"subscription.created", migrations.OutcomeUpdated},
	{"subscription.active", migrations.OutcomeUnchanged},
	{"subscription.updated", migrations.OutcomeUpdated},
	{"subscriptionItem.updated", migrations.OutcomeUnchanged},
	{"subscription.pastDue", migrations.OutcomeUpdated},
	{"subscriptionItem.pastDue", migrations.OutcomeUnchanged},
	{"subscriptionItem.canceled", migrations.OutcomeUpdated},
	{"subscriptionItem.abandoned", migrations.OutcomeUpdated},
	{"subscriptionItem.ended", migrations.OutcomeUpdated},
	{"paymentAttempt.created", migrations.OutcomeCreated},
	{"paymentAttempt.updated", migrations.OutcomeUpdated},
	{"session.ended", migrations.OutcomeSignedOut},
	{"session.removed", migrations.OutcomeSignedOut},
	{"session.revoked", migrations.OutcomeSignedOut},
	{"user.deleted", migrations.OutcomeDeleted},
}

// Every event Clerk documents is acknowledged: applied where PocketClerk
// keeps its object, ignored (2xx, logged) otherwise; never 4xx or 5xx.
func TestEveryDocumentedClerkEventIsAcknowledged(t *testing.T) {
	examples := clerkEventExamples(t)
	if len(examples) != 45 {
		t.Fatalf("%d event types in Clerk's webhook spec, want its 45", len(examples))
	}
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	want := map[string]string{}
	var order []string
	for _, e := range keptEvents {
		want[e.typ] = e.outcome
		order = append(order, e.typ)
	}
	var others []string
	for typ := range examples {
		if _, kept := want[typ]; !kept {
			want[typ] = migrations.OutcomeIgnored
			others = append(others, typ)
		}
	}
	slices.Sort(others)
	for i, typ := range append(others, order...) {
		r := deliver(t, srv.URL, fmt.Sprintf("msg_spec_example_%02d", i), examples[typ])
		if r.Status < 200 || r.Status > 299 {
			t.Errorf("%s: answered %d %v", typ, r.Status, r.Body)
			continue
		}
		if outcome, _ := r.Body["outcome"].(string); outcome != want[typ] {
			t.Errorf("%s: outcome %q, want %q", typ, outcome, want[typ])
		}
	}
	// Each delivery is logged, ignored ones included.
	if n := count(t, app, migrations.EventsCollection, ""); n != len(examples) {
		t.Errorf("%d deliveries logged, want %d", n, len(examples))
	}
}
