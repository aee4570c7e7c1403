package hooks

import (
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/subscriptions"
)

// PocketBase v0.40.4 binds its realtime model hooks (apis/realtime.go: the
// broadcast of a record's create, update and delete, and the refresh of the
// subscribers' auth record on its update) at priority -99. Ours run right
// before or right after them; docs/upgrading.md lists the tests that check it.
const (
	pocketBaseRealtimePriority = -99
	// adoptWaitingSubscribers runs before the broadcast of a client's
	// create, so that the waiting user hears of it.
	adoptBeforeBroadcastPriority = pocketBaseRealtimePriority - 1
	// keepClerkSubscribersSignedIn runs before PocketBase refreshes the
	// subscribers' auth with the updated client.
	keepBeforeAuthRefreshPriority = pocketBaseRealtimePriority - 1
	// dropBannedSubscribers runs after PocketBase refreshed the
	// subscribers' auth with the updated client.
	dropAfterAuthRefreshPriority = pocketBaseRealtimePriority + 1
	// The realtime index sets its broker view on the event right before
	// PocketBase's handlers, and takes it off right after (setView,
	// takeView); the rule shortcuts wrap the event's app around it, so that
	// the view is what takeView finds.
	ruleShortcutPriority = pocketBaseRealtimePriority - 2
	setViewPriority      = pocketBaseRealtimePriority - 1
	takeViewPriority     = pocketBaseRealtimePriority + 1
	// PocketBase dry-caches a deletion's messages at 99, as late as possible.
	pocketBaseDryCachePriority = 99
)

// rememberWaitingSubscriber marks a realtime connection subscribed with a
// valid session token whose client does not exist yet, so that the
// connection is signed in when the client appears (see
// adoptWaitingSubscribers) and hears of its creation.
func (a *sessionAuth) rememberWaitingSubscriber(e *core.RealtimeSubscribeRequestEvent) error {
	if err := e.Next(); err != nil {
		return err
	}
	clerkID, _ := e.Get(waitingClerkUserKey).(string)
	if e.Auth != nil || clerkID == "" {
		e.Client.Unset(waitingClerkUserKey)
		return nil
	}
	e.Client.Set(waitingClerkUserKey, clerkID)
	// The client may have been created since loadSession looked; its create
	// event has then passed this connection by.
	if client, _ := findClient(e.App, clerkID); client != nil {
		adoptSubscriber(e.Client, client)
	}
	return nil
}

// adoptWaitingSubscribers signs the waiting realtime connections of a new
// client's user in as that client.
func (a *sessionAuth) adoptWaitingSubscribers(e *core.ModelEvent) error {
	if record, _ := e.Model.(*core.Record); isClient(record) {
		client := &clientRecord{record}
		clerkID := client.ClerkID()
		for _, sub := range e.App.SubscriptionsBroker().Clients() {
			if waiting, _ := sub.Get(waitingClerkUserKey).(string); waiting == clerkID {
				adoptSubscriber(sub, client)
			}
		}
	}
	return e.Next()
}

func adoptSubscriber(sub subscriptions.Client, client *clientRecord) {
	if client.SignInRefused() {
		return
	}
	// PocketBase stores a guest's auth as a nil *core.Record.
	if auth, _ := sub.Get(apis.RealtimeClientAuthKey).(*core.Record); auth == nil {
		sub.Set(apis.RealtimeClientAuthKey, client.Fresh())
	}
	sub.Unset(waitingClerkUserKey)
}

// keepClerkSubscribersSignedIn holds the updated client on the realtime
// connections that a Clerk session token signed in as that client, before
// PocketBase refreshes its connections' auth. PocketBase signs a
// connection out when its auth record's token key changed (it does when
// the email changes); that suits its own tokens, but a Clerk session token
// does not depend on the key and still authenticates the next request. A
// client refused from now on (banned, anonymized) so hears of the change,
// and dropBannedSubscribers signs it out after.
func keepClerkSubscribersSignedIn(e *core.ModelEvent) error {
	record, _ := e.Model.(*core.Record)
	if !isClient(record) {
		return e.Next()
	}
	// For an indexed connection this also hands PocketBase's refresh the
	// record in memory, which it would otherwise read again.
	for _, sub := range realtimeClientsSignedInAs(e.App, record) {
		if signedInByClerkAs(sub, record) {
			sub.Set(apis.RealtimeClientAuthKey, record)
		}
	}
	return e.Next()
}

// signedInByClerkAs tells whether a Clerk session token signed sub in as
// record.
func signedInByClerkAs(sub subscriptions.Client, record *core.Record) bool {
	sid, _ := sub.Get(clerkSessionIDKey).(string)
	return sid != "" && isClient(record) && signedInAs(sub, record)
}

// dropBannedSubscribers signs a banned client's open realtime connections
// out, as its session tokens no longer authenticate it.
func dropBannedSubscribers(e *core.ModelEvent) error {
	if record, _ := e.Model.(*core.Record); isClient(record) && (&clientRecord{record}).SignInRefused() {
		for _, sub := range realtimeClients(e.App) {
			if signedInAs(sub, record) {
				sub.Unset(apis.RealtimeClientAuthKey)
			}
		}
	}
	return e.Next()
}

// rememberSubscriberSession keeps on a realtime connection the id of the
// Clerk session that signed it in (or that it waits for), so that the end
// of that session signs it out (see signOutSession).
func rememberSubscriberSession(e *core.RealtimeSubscribeRequestEvent) error {
	if err := e.Next(); err != nil {
		return err
	}
	sid, _ := e.Get(clerkSessionIDKey).(string)
	_, waiting := e.Client.Get(waitingClerkUserKey).(string)
	if sid != "" && (isClient(e.Auth) || waiting) {
		e.Client.Set(clerkSessionIDKey, sid)
	} else {
		e.Client.Unset(clerkSessionIDKey)
	}
	return nil
}
