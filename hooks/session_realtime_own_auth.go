package hooks

import (
	"database/sql"
	"errors"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/subscriptions"
)

// An indexed connection keeps its auth as a reference (authRef) instead of
// the record. The record, with the Clerk user it keeps, is several KB, held
// once per connection: with a thousand connections that was half the live
// heap, which every garbage collection walks. A delivery needs no more than
// the reference, as the changed record is the connection's own; anything
// else that asks for the auth (an owner's OnRealtimeMessageSend hook,
// PocketBase once the connection is given back) gets the record loaded
// anew.

// authRef is the auth of an indexed connection.
type authRef struct {
	collectionID, id, tokenKey string
}

func newAuthRef(record *core.Record) *authRef {
	return &authRef{collectionID: record.Collection().Id, id: record.Id, tokenKey: record.TokenKey()}
}

func (r *authRef) is(record *core.Record) bool {
	return record != nil && r.id == record.Id && r.collectionID == record.Collection().Id
}

// holdAuthAsRef replaces the auth record that conn holds by its reference.
// It is called as conn is indexed.
func (c *ownRecordConn) holdAuthAsRef() {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	if record, _ := c.Client.Get(apis.RealtimeClientAuthKey).(*core.Record); record != nil {
		c.authRef = newAuthRef(record)
		c.Client.Unset(apis.RealtimeClientAuthKey)
	}
}

// Get is the client's store, where an indexed connection's auth is loaded
// from its reference. Once the connection is back in PocketBase's broker,
// which reads the auth for every record change, the loaded record is kept.
func (c *ownRecordConn) Get(key string) any {
	if key != apis.RealtimeClientAuthKey {
		return c.Client.Get(key)
	}
	c.authMu.Lock()
	defer c.authMu.Unlock()
	ref := c.authRef
	if ref == nil {
		return c.Client.Get(key)
	}
	record, err := c.app.FindRecordById(ref.collectionID, ref.id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		record = nil // deleted: signed out, as PocketBase does
	case err != nil:
		c.app.Logger().Warn("Realtime: a connection's auth record could not be loaded, so this once it counts as a guest; check the database",
			"clientId", c.Id(), "recordId", ref.id, "error", err.Error())
		return (*core.Record)(nil)
	case record.TokenKey() != ref.tokenKey && !c.signedInByClerk():
		record = nil // a new token key signs it out, as in refreshAuth
	}
	if !c.indexed.Load() {
		c.authRef = nil
		c.Client.Set(key, record)
	}
	return record
}

func (c *ownRecordConn) Set(key string, value any) {
	if key == apis.RealtimeClientAuthKey {
		c.authMu.Lock()
		defer c.authMu.Unlock()
		c.authRef = nil
		if record, _ := value.(*core.Record); record != nil && c.indexed.Load() {
			c.authRef = newAuthRef(record)
			c.Client.Unset(key)
			return
		}
	}
	c.Client.Set(key, value)
}

func (c *ownRecordConn) Unset(key string) {
	if key == apis.RealtimeClientAuthKey {
		c.authMu.Lock()
		defer c.authMu.Unlock()
		c.authRef = nil
	}
	c.Client.Unset(key)
}

func (c *ownRecordConn) signedInByClerk() bool {
	sid, _ := c.Client.Get(clerkSessionIDKey).(string)
	return sid != ""
}

// authFor is the connection's auth for a delivery of record: record itself
// when the connection is signed in as it, without loading it again.
func (c *ownRecordConn) authFor(record *core.Record) *core.Record {
	c.authMu.Lock()
	ref := c.authRef
	c.authMu.Unlock()
	if ref != nil && ref.is(record) {
		return record
	}
	auth, _ := c.Get(apis.RealtimeClientAuthKey).(*core.Record)
	return auth
}

// signedInAs tells whether sub is signed in as record, without loading the
// auth of an indexed connection.
func signedInAs(sub subscriptions.Client, record *core.Record) bool {
	if conn, ok := sub.(*ownRecordConn); ok {
		conn.authMu.Lock()
		ref := conn.authRef
		conn.authMu.Unlock()
		if ref != nil {
			return ref.is(record)
		}
	}
	auth, _ := sub.Get(apis.RealtimeClientAuthKey).(*core.Record)
	return auth != nil && auth.Id == record.Id && auth.Collection().Id == record.Collection().Id
}

// refreshAuth is PocketBase's realtimeUpdateClientsAuth for one indexed
// connection: a new token key signs it out, unless a Clerk session signed
// it in (see keepClerkSubscribersSignedIn); otherwise its reference follows
// the saved record.
func refreshAuth(conn *ownRecordConn, record *core.Record) {
	conn.authMu.Lock()
	defer conn.authMu.Unlock()
	ref := conn.authRef
	if ref == nil || !ref.is(record) {
		return
	}
	if ref.tokenKey != record.TokenKey() && !conn.signedInByClerk() {
		conn.authRef = nil
		return
	}
	conn.authRef = newAuthRef(record)
}
