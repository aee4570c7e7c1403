package realtimeindex

import (
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/pocketbase/pocketbase/tools/subscriptions"
)

// A connection answers PocketBase's walks from its own index of topics
// (connection.Subscriptions): it must answer what PocketBase's client
// answers, for every form of prefix PocketBase asks with.
func TestConnectionTopicsAnswerAsPocketBasesClient(t *testing.T) {
	topics := []string{
		"clients/abc", "clients/abcd", "clients/*", "clients",
		`memberships/*?options={"query":{"filter":"client = \"abc\""}}`, "memberships/*?options=x",
		"organizations/*", "pbc_123/abc", "custom/a?b", "",
	}
	prefixes := [][]string{
		{"clients/abc?"}, {"clients/ab?"}, {"clients/*?"}, {"clients?"}, {"memberships/*?"},
		{"organizations/*?"}, {"organizations?"}, {"pbc_123/abc?"}, {"custom/a?"}, {"clients/"},
		{"clients/abc?", "clients/*?"}, {"c"}, {""}, {"?"}, {},
	}
	pb := subscriptions.NewDefaultClient()
	conn := newConnection(nil, subscriptions.NewDefaultClient())
	pb.Subscribe(topics...)
	conn.Subscribe(topics...)
	for _, p := range prefixes {
		if got, want := conn.Subscriptions(p...), pb.Subscriptions(p...); !maps.EqualFunc(got, want, sameOptions) {
			t.Errorf("Subscriptions(%q): %v, PocketBase's client %v", p, got, want)
		}
	}
	pb.Unsubscribe("clients/abc", "memberships/*?options=x")
	conn.Unsubscribe("clients/abc", "memberships/*?options=x")
	for _, p := range prefixes {
		if got, want := conn.Subscriptions(p...), pb.Subscriptions(p...); !maps.EqualFunc(got, want, sameOptions) {
			t.Errorf("after unsubscribing, Subscriptions(%q): %v, PocketBase's client %v", p, got, want)
		}
	}
}

func sameOptions(a, b subscriptions.SubscriptionOptions) bool {
	return maps.Equal(a.Query, b.Query) && maps.Equal(a.Headers, b.Headers)
}

// Any sequence of the calls PocketBase makes (Subscribe with repeated or
// empty names, Unsubscribe of some or of all) leaves a connection answering
// Subscriptions and HasSubscription as PocketBase's client does.
func TestConnectionFollowsPocketBasesClientThroughAnySequence(t *testing.T) {
	names := []string{
		"clients/abc", "clients/abc?options=x", "clients/*", "memberships/*",
		`memberships/*?options={"query":{"expand":"organization"}}`, "organizations/*", "custom", "",
	}
	prefixes := [][]string{{"clients/abc?"}, {"clients/*?"}, {"memberships/*?"}, {"organizations/*?"}, {"custom?"}, {"clients/"}, {}}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func() []string {
		out := make([]string, rng.IntN(4))
		for i := range out {
			out[i] = names[rng.IntN(len(names))]
		}
		return out
	}
	for run := range 500 {
		pb := subscriptions.NewDefaultClient()
		conn := newConnection(nil, subscriptions.NewDefaultClient())
		for step := range 12 {
			subs := pick()
			switch rng.IntN(3) {
			case 0, 1:
				pb.Subscribe(subs...)
				conn.Subscribe(subs...)
			default:
				pb.Unsubscribe(subs...) // none: all of them
				conn.Unsubscribe(subs...)
			}
			for _, p := range prefixes {
				if got, want := conn.Subscriptions(p...), pb.Subscriptions(p...); !maps.EqualFunc(got, want, sameOptions) {
					t.Fatalf("run %d step %d: Subscriptions(%q): %v, PocketBase's client %v", run, step, p, got, want)
				}
			}
			for _, name := range names {
				if got, want := conn.HasSubscription(name), pb.HasSubscription(name); got != want {
					t.Fatalf("run %d step %d: HasSubscription(%q): %v, PocketBase's client %v", run, step, name, got, want)
				}
			}
		}
	}
}
