package realtimeindex

import (
	"maps"
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
