package hooks

import (
	"fmt"
	"strings"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"

	"github.com/pocketclerk/pocketclerk/hooks/internal/realtimeindex"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// PocketBase checks a collection's rule once per subscription per changed
// record (with an SQL query, but where ruleShortcutApp answers), and the
// commit that changed the record waits for it; it caps neither the
// subscriptions of a connection (but 1,000 per request) nor who may hold
// them. A guest with a thousand topics of clients made Clerk's deliveries
// time out, and never received a thing.
const (
	// MaxRealtimeSubscriptions is the most topics one connection may hold.
	MaxRealtimeSubscriptions = 100
	// MaxRealtimeSubscriptionsPerCollection is the most topics of one
	// collection one connection may hold.
	MaxRealtimeSubscriptionsPerCollection = 25
	// MaxRealtimeListTopicsPerCollection is the most topics of a whole
	// collection ("<collection>/*" or "<collection>", with any options) one
	// connection may hold: each is checked at every change of the
	// collection, where "<collection>/<id>" is checked at that record's.
	MaxRealtimeListTopicsPerCollection = 5
	// MaxRealtimeConnectionsPerClient is the most connections holding
	// topics that one signed-in client may have open.
	MaxRealtimeConnectionsPerClient = 20
)

// subscribedAsKey holds, in a connection's store, the id of the client it
// holds topics as.
const subscribedAsKey = "pocketclerk.subscribedAs"

// signedInClientRulePrefix starts every rule that admits a signed-in client
// only (every rule this app ships with, and those written as the README
// advises): no other connection can pass it.
var signedInClientRulePrefix = `@request.auth.collectionName = "` + migrations.ClientsCollection + `"`

// bindRealtimeLimits makes a subscription request cost the server only what
// can reach its connection, within the caps above (beyond them the request
// is refused, 400). Topics that can never pass are dropped before
// PocketBase stores them: a guest's (or another auth collection's record's)
// topics of a collection whose rule admits clients only, or superusers
// only; a client's topics of another client's record. A connection that
// waits for its client (a valid Clerk session whose user has no client
// yet) counts as that client. Superusers are left as PocketBase treats them.
func (p *plugin) bindRealtimeLimits() {
	p.app.OnRealtimeSubscribeRequest().Bind(&hook.Handler[*core.RealtimeSubscribeRequestEvent]{
		Priority: realtimeindex.FirstSubscribePriority, // the other subscribe hooks see the kept topics
		Func: func(e *core.RealtimeSubscribeRequestEvent) error {
			if e.HasSuperuserAuth() {
				return e.Next()
			}
			kept, refusal := keptTopics(e)
			if refusal != "" {
				return e.BadRequestError(refusal, nil)
			}
			e.Subscriptions = kept
			if !isClient(e.Auth) || len(kept) == 0 {
				e.Client.Unset(subscribedAsKey)
				return e.Next()
			}
			open := 0
			for _, c := range p.realtimeClientsSignedInAs(e.App, e.Auth) {
				if c.Id() != e.Client.Id() && c.Get(subscribedAsKey) == e.Auth.Id && !c.IsDiscarded() {
					open++
				}
			}
			if open >= MaxRealtimeConnectionsPerClient {
				return e.BadRequestError(fmt.Sprintf("Too many realtime connections: a signed-in user may hold topics on %d at once; close another (a tab, say) first.", MaxRealtimeConnectionsPerClient), nil)
			}
			e.Client.Set(subscribedAsKey, e.Auth.Id)
			return e.Next()
		},
	})
}

// keptTopics is what the connection of e may hold of the topics it asks
// for, or the refusal that says which cap they pass.
func keptTopics(e *core.RealtimeSubscribeRequestEvent) (kept []string, refusal string) {
	waiting, _ := e.Get(waitingClerkUserKey).(string)
	client := isClient(e.Auth) || waiting != ""
	kept = e.Subscriptions[:0:0]
	perCollection, listTopics := map[string]int{}, map[string]int{}
	for _, topic := range e.Subscriptions {
		t := parseTopic(e.App, topic)
		if t.collection != nil && !t.mayPass(e.Auth, client) {
			continue
		}
		perCollection[t.name]++
		if perCollection[t.name] > MaxRealtimeSubscriptionsPerCollection {
			return nil, fmt.Sprintf("Too many realtime subscriptions to %s: a connection may hold %d topics of one collection (%d of the whole collection, %d in all).", t.name, MaxRealtimeSubscriptionsPerCollection, MaxRealtimeListTopicsPerCollection, MaxRealtimeSubscriptions)
		}
		if t.list {
			listTopics[t.name]++
			if listTopics[t.name] > MaxRealtimeListTopicsPerCollection {
				return nil, fmt.Sprintf("Too many realtime subscriptions to the whole of %s: a connection may hold %d (\"%s/*\" with different options); subscribe to records by id, or once with the options that serve all.", t.name, MaxRealtimeListTopicsPerCollection, t.name)
			}
		}
		kept = append(kept, topic)
	}
	if len(kept) > MaxRealtimeSubscriptions {
		return nil, fmt.Sprintf("Too many realtime subscriptions: a connection may hold %d topics (%d of one collection).", MaxRealtimeSubscriptions, MaxRealtimeSubscriptionsPerCollection)
	}
	return kept, ""
}

// realtimeTopic is a subscription's topic as PocketBase's broadcast reads it.
type realtimeTopic struct {
	name       string           // the collection's name, or the topic's first part where it names none
	collection *core.Collection // nil: a custom topic
	recordID   string           // "<collection>/<id>"
	list       bool             // "<collection>/*" or "<collection>": checked with the list rule
}

func parseTopic(app core.App, topic string) realtimeTopic {
	path, _, _ := strings.Cut(topic, "?")
	name, id, hasID := strings.Cut(path, "/")
	t := realtimeTopic{name: name, list: !hasID || id == "*"}
	if !t.list {
		t.recordID = id
	}
	if c, err := app.FindCachedCollectionByNameOrId(name); err == nil {
		t.collection, t.name = c, c.Name // a topic may name it by id
	}
	return t
}

// mayPass tells whether the topic's rule can ever admit auth; client is
// true for a client, or a connection that waits for its client.
func (t realtimeTopic) mayPass(auth *core.Record, client bool) bool {
	rule := t.collection.ViewRule
	if t.list {
		rule = t.collection.ListRule
	}
	switch {
	case rule == nil || requiresClient(*rule) && !client:
		return false
	case *rule == migrations.OwnRecordRule && t.collection.Name == migrations.ClientsCollection && !t.list && isClient(auth):
		return t.recordID == auth.Id
	}
	return true
}

// ruleShortcutApp is the app that PocketBase's broadcast of a created or
// updated record checks its subscribers' rules with. It answers without a
// query where the rule decides by the auth alone: a rule for signed-in
// clients only, for any other auth; and the rule clients ship with, for a
// client (its own record only). Every other check is PocketBase's. So a
// signed-in client's topics of clients cost no query per change of another
// client, however many it holds.
type ruleShortcutApp struct{ core.App }

func (a ruleShortcutApp) CanAccessRecord(record *core.Record, info *core.RequestInfo, rule *string) (bool, error) {
	if rule != nil && !info.HasSuperuserAuth() {
		switch {
		case requiresClient(*rule) && !isClient(info.Auth):
			return false, nil
		case *rule == migrations.OwnRecordRule && isClient(info.Auth) && isClient(record):
			return record.Id == info.Auth.Id, nil
		}
	}
	return a.App.CanAccessRecord(record, info, rule)
}

// bindRuleShortcuts hands PocketBase's realtime handlers of a record's
// create and update the ruleShortcutApp, around the realtime index's view
// of the broker, so that the view is what the index takes off. (A
// deletion's messages are checked with the app PocketBase bound them with.)
func bindRuleShortcuts(app core.App) {
	shortcut := &hook.Handler[*core.ModelEvent]{
		Priority: realtimeindex.AroundViewPriority,
		Func: func(e *core.ModelEvent) error {
			original := e.App
			e.App = ruleShortcutApp{original}
			defer func() { e.App = original }()
			return e.Next()
		},
	}
	app.OnModelAfterCreateSuccess().Bind(shortcut)
	app.OnModelAfterUpdateSuccess().Bind(shortcut)
}

// requiresClient tells whether rule admits signed-in clients only: it is
// signedInClientRulePrefix alone or followed by "&&", with no "||" that
// could admit others (PocketBase's && binds first).
func requiresClient(rule string) bool {
	rest, ok := strings.CutPrefix(strings.TrimSpace(rule), signedInClientRulePrefix)
	rest = strings.TrimSpace(rest)
	return ok && (rest == "" || strings.HasPrefix(rest, "&&")) && !strings.Contains(rest, "||")
}
