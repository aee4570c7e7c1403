package hooks

import (
	"fmt"
	"strings"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// PocketBase checks a collection's rule once per subscription per changed
// record, with an SQL query, and the commit that changed the record waits
// for it; it caps neither the subscriptions of a connection (but 1,000 per
// request) nor who may hold them. A guest with a thousand topics of clients
// made Clerk's deliveries time out, and never received a thing.
const (
	// MaxRealtimeSubscriptions is the most topics one connection may hold.
	MaxRealtimeSubscriptions = 100
	// MaxRealtimeSubscriptionsPerCollection is the most topics of one
	// collection one connection may hold.
	MaxRealtimeSubscriptionsPerCollection = 25
)

// signedInClientRulePrefix starts every rule that admits a signed-in client
// only (every rule this app ships with, and those written as the README
// advises): no other connection can pass it.
var signedInClientRulePrefix = `@request.auth.collectionName = "` + migrations.ClientsCollection + `"`

// bindRealtimeLimits makes a subscription request cost the server only what
// can reach its connection. Topics that the connection's auth can never
// read are dropped before PocketBase stores them: a guest's (or another
// auth collection's record's) topics of a collection whose rule admits
// clients only, or superusers only. A connection that waits for its
// client (a valid Clerk session whose user has no client yet) counts as
// the client it will be. Beyond the caps the request is refused, 400.
// Superusers are trusted and left as PocketBase treats them.
func bindRealtimeLimits(app core.App) {
	app.OnRealtimeSubscribeRequest().Bind(&hook.Handler[*core.RealtimeSubscribeRequestEvent]{
		Priority: -200, // before every other subscribe hook: they see the kept topics
		Func: func(e *core.RealtimeSubscribeRequestEvent) error {
			if e.HasSuperuserAuth() {
				return e.Next()
			}
			waiting, _ := e.Get(waitingClerkUserKey).(string)
			client := isClient(e.Auth) || waiting != ""
			kept := e.Subscriptions[:0:0]
			perCollection := map[string]int{}
			for _, topic := range e.Subscriptions {
				collection, rule := topicRule(e.App, topic)
				if !client && (collection != nil && (rule == nil || requiresClient(*rule))) {
					continue
				}
				key := topicCollectionKey(topic)
				if collection != nil {
					key = collection.Name // a topic may name it by id
				}
				perCollection[key]++
				if perCollection[key] > MaxRealtimeSubscriptionsPerCollection {
					return e.BadRequestError(fmt.Sprintf("Too many realtime subscriptions to %s: a connection may hold %d topics of one collection (and %d in all).", key, MaxRealtimeSubscriptionsPerCollection, MaxRealtimeSubscriptions), nil)
				}
				kept = append(kept, topic)
			}
			if len(kept) > MaxRealtimeSubscriptions {
				return e.BadRequestError(fmt.Sprintf("Too many realtime subscriptions: a connection may hold %d topics (and %d of one collection).", MaxRealtimeSubscriptions, MaxRealtimeSubscriptionsPerCollection), nil)
			}
			e.Subscriptions = kept
			return e.Next()
		},
	})
}

// topicCollectionKey is the collection part of a topic: "clients" of
// "clients/*?options=…".
func topicCollectionKey(topic string) string {
	topic, _, _ = strings.Cut(topic, "?")
	name, _, _ := strings.Cut(topic, "/")
	return name
}

// topicRule is the collection of a record topic and the rule PocketBase
// checks for it: the view rule for "<collection>/<id>", the list rule for
// "<collection>/*" and "<collection>". A topic of no collection (a custom
// one) has none.
func topicRule(app core.App, topic string) (*core.Collection, *string) {
	path, _, _ := strings.Cut(topic, "?")
	name, id, hasID := strings.Cut(path, "/")
	collection, err := app.FindCachedCollectionByNameOrId(name)
	if err != nil {
		return nil, nil
	}
	if hasID && id != "*" {
		return collection, collection.ViewRule
	}
	return collection, collection.ListRule
}

// requiresClient tells whether rule admits signed-in clients only: it is
// signedInClientRulePrefix alone or followed by "&&", with no "||" that
// could admit others (PocketBase's && binds first).
func requiresClient(rule string) bool {
	rest, ok := strings.CutPrefix(strings.TrimSpace(rule), signedInClientRulePrefix)
	rest = strings.TrimSpace(rest)
	return ok && (rest == "" || strings.HasPrefix(rest, "&&")) && !strings.Contains(rest, "||")
}
