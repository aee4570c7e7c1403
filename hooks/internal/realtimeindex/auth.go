package realtimeindex

import (
	"database/sql"
	"errors"
	"weak"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/subscriptions"
)

// An indexed connection keeps its auth as a reference (authRef) instead of
// the record. The record, with what the app keeps on it, is several KB, held
// once per connection: with a thousand connections that was half the live
// heap, which every garbage collection walks. A delivery needs no more than
// the reference, as the changed record is the connection's own; anything
// else that asks for the auth (an owner's OnRealtimeMessageSend hook,
// PocketBase once the connection is given back) gets the record the
// reference last saw while it is still in memory, and otherwise the record
// loaded anew.

// authRef is the auth of an indexed connection.
type authRef struct {
	collectionID, id, tokenKey string
	record                     weak.Pointer[core.Record] // the record as last seen, not kept alive
}

func newAuthRef(record *core.Record) *authRef {
	return &authRef{collectionID: record.Collection().Id, id: record.Id, tokenKey: record.TokenKey(), record: weak.Make(record)}
}

func (r *authRef) is(record *core.Record) bool {
	return record != nil && r.id == record.Id && r.collectionID == record.Collection().Id
}

func (c *connection) currentAuthRef() *authRef {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	return c.authRef
}

// holdAuthAsRef replaces the auth record that conn holds by its reference.
// It is called as conn is indexed.
func (c *connection) holdAuthAsRef() {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	if record, _ := c.Client.Get(apis.RealtimeClientAuthKey).(*core.Record); record != nil {
		c.authRef = newAuthRef(record)
		c.Client.Unset(apis.RealtimeClientAuthKey)
	}
}

// Get is the client's store, where an indexed connection's auth comes from
// its reference. Once the connection is back in PocketBase's broker, which
// reads the auth for every record change, the record is kept again.
func (c *connection) Get(key string) any {
	if key != apis.RealtimeClientAuthKey {
		return c.Client.Get(key)
	}
	for {
		ref := c.currentAuthRef()
		if ref == nil {
			return c.Client.Get(key)
		}
		record, loaded, ok := ref.record.Value(), false, true
		if record == nil {
			// Read without the lock.
			record, ok = c.loadAuth(ref)
			loaded = true
		}
		if !ok || c.keepAuth(ref, record, loaded) {
			return record
		}
		// A delivery or a sign-out came meanwhile: ask again.
	}
}

// keepAuth keeps what Get found for ref, unless the reference changed
// meanwhile: nil signs the connection out; a record is held again once
// the connection is back in the broker.
func (c *connection) keepAuth(ref *authRef, record *core.Record, loaded bool) bool {
	c.authMu.Lock()
	defer c.authMu.Unlock()
	if c.authRef != ref {
		return false
	}
	switch {
	case record == nil:
		c.authRef = nil
		c.Client.Unset(apis.RealtimeClientAuthKey)
	case !c.indexed.Load():
		c.authRef = nil
		c.Client.Set(apis.RealtimeClientAuthKey, record)
	case loaded:
		c.authRef = newAuthRef(record)
	}
	return true
}

// loadAuth reads the record of ref, or nil if it no longer signs the
// connection in (deleted, or a new token key, as PocketBase decides in
// realtimeUpdateClientsAuth). When the
// database cannot answer, it is a stand-in with the record's id and token
// key, which still refuses another user's token on this connection, and ok
// is false: nothing is concluded from it.
func (c *connection) loadAuth(ref *authRef) (record *core.Record, ok bool) {
	record, err := c.app.FindRecordById(ref.collectionID, ref.id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, true
	case err != nil:
		c.app.Logger().Warn("Realtime: a connection's auth record could not be loaded, so hooks that read it get a stand-in with its id only; check the database",
			"clientId", c.Id(), "recordId", ref.id, "error", err.Error())
		collection, cerr := c.app.FindCachedCollectionByNameOrId(ref.collectionID)
		if cerr != nil {
			return nil, false
		}
		standIn := core.NewRecord(collection)
		standIn.Id = ref.id
		standIn.SetTokenKey(ref.tokenKey)
		return standIn, false
	case record.TokenKey() != ref.tokenKey: // an app that keeps the connection signed in through a new key sets the record anew (Set)
		return nil, true
	}
	return record, true
}

func (c *connection) Set(key string, value any) {
	if key == apis.RealtimeClientAuthKey {
		c.authMu.Lock()
		defer c.authMu.Unlock()
		record, _ := value.(*core.Record)
		c.noteSignedIn(record)
		c.authRef = nil
		if record != nil && c.indexed.Load() {
			c.authRef = newAuthRef(record)
			c.Client.Unset(key)
			return
		}
	}
	c.Client.Set(key, value)
}

func (c *connection) Unset(key string) {
	if key == apis.RealtimeClientAuthKey {
		c.authMu.Lock()
		defer c.authMu.Unlock()
		c.noteSignedIn(nil)
		c.authRef = nil
	}
	c.Client.Unset(key)
}

// noteSignedIn keeps the connection's entry in signedInConns; call with
// authMu held, as the auth changes.
func (c *connection) noteSignedIn(auth *core.Record) {
	if c.signedIn != nil {
		c.signedIn.note(c, auth)
	}
}

// SignedInAs tells whether sub is signed in as record, without loading the
// auth of a connection of an index.
func SignedInAs(sub subscriptions.Client, record *core.Record) bool {
	if conn, ok := sub.(*connection); ok {
		if ref := conn.currentAuthRef(); ref != nil {
			return ref.is(record)
		}
	}
	auth, _ := sub.Get(apis.RealtimeClientAuthKey).(*core.Record)
	return auth != nil && auth.Id == record.Id && auth.Collection().Id == record.Collection().Id
}
