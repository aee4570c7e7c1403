package realtimeindex

import (
	"sync"

	"github.com/pocketbase/pocketbase/core"
)

// signedInConns finds the connections signed in as a record without
// walking every connection (ClientsSignedInAs). An app may look for them
// at every change of a user, and a walk of PocketBase's broker copies its
// whole map and reads every connection's store: with a thousand profile
// pages open that walk was a third of a user.updated's CPU.
type signedInConns struct {
	mu    sync.Mutex
	conns map[string]map[*connection]struct{} // by the auth record's collection id and id
}

func signedInKey(record *core.Record) string {
	return record.Collection().Id + "/" + record.Id
}

// note records that conn is signed in as auth (nil: as no one).
func (s *signedInConns) note(conn *connection, auth *core.Record) {
	key := ""
	if auth != nil {
		key = signedInKey(auth)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if conn.signedInForgotten {
		key = "" // ended: an auth set as it ended must not keep it here
	}
	if conn.signedInAs == key {
		return
	}
	if old := s.conns[conn.signedInAs]; old != nil {
		delete(old, conn)
		if len(old) == 0 {
			delete(s.conns, conn.signedInAs)
		}
	}
	conn.signedInAs = key
	if key == "" {
		return
	}
	if s.conns[key] == nil {
		s.conns[key] = map[*connection]struct{}{}
	}
	s.conns[key][conn] = struct{}{}
}

// forget removes a connection that ended, for good.
func (s *signedInConns) forget(conn *connection) {
	s.mu.Lock()
	conn.signedInForgotten = true
	s.mu.Unlock()
	s.note(conn, nil)
}

// of is the connections signed in as record.
func (s *signedInConns) of(record *core.Record) []*connection {
	return s.ofKey(signedInKey(record))
}

// ofKey is the connections signed in as the record "<collection id>/<id>".
func (s *signedInConns) ofKey(key string) []*connection {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.conns[key]
	out := make([]*connection, 0, len(set))
	for conn := range set {
		out = append(out, conn)
	}
	return out
}
