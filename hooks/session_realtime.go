package hooks

import (
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/subscriptions"

	"github.com/pocketclerk/pocketclerk/hooks/internal/realtimeindex"
)

// The connections of a Clerk session follow its client through PocketBase's
// realtime handlers: signed in when the client is created, kept signed in
// through its changes, signed out when it is banned. The hooks run right
// before or right after PocketBase's (see realtimeindex's priorities);
// docs/upgrading.md lists the tests that check it.

// realtimeClients is every realtime connection: PocketBase's broker's and,
// with the realtime index on, those taken out of it.
func (p *plugin) realtimeClients(app core.App) []subscriptions.Client {
	if p.realtimeIndex != nil {
		return p.realtimeIndex.Clients()
	}
	var out []subscriptions.Client
	for _, c := range app.SubscriptionsBroker().Clients() {
		out = append(out, c)
	}
	return out
}

// realtimeClientsSignedInAs is every realtime connection signed in as
// auth, found without a walk of every connection when the index is on.
func (p *plugin) realtimeClientsSignedInAs(app core.App, auth *core.Record) []subscriptions.Client {
	if p.realtimeIndex != nil {
		return p.realtimeIndex.ClientsSignedInAs(auth)
	}
	var out []subscriptions.Client
	for _, c := range app.SubscriptionsBroker().Clients() {
		if realtimeindex.SignedInAs(c, auth) {
			out = append(out, c)
		}
	}
	return out
}

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
func (p *plugin) keepClerkSubscribersSignedIn(e *core.ModelEvent) error {
	record, _ := e.Model.(*core.Record)
	if !isClient(record) {
		return e.Next()
	}
	// For an indexed connection this also hands PocketBase's refresh the
	// record in memory, which it would otherwise read again.
	for _, sub := range p.realtimeClientsSignedInAs(e.App, record) {
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
	return sid != "" && isClient(record) && realtimeindex.SignedInAs(sub, record)
}

// dropBannedSubscribers signs a banned client's open realtime connections
// out, as its session tokens no longer authenticate it.
func (p *plugin) dropBannedSubscribers(e *core.ModelEvent) error {
	if record, _ := e.Model.(*core.Record); isClient(record) && (&clientRecord{record}).SignInRefused() {
		for _, sub := range p.realtimeClients(e.App) {
			if realtimeindex.SignedInAs(sub, record) {
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
