package realtimeindex

// Stats counts the app's realtime connections by where they are served
// from: what an operator reads to see the index at work, and what tests
// check it by.
type Stats struct {
	// Broker is the connections in PocketBase's broker, which walks them
	// at every record change.
	Broker int `json:"broker"`
	// Indexed is the connections taken out of PocketBase's broker.
	Indexed int `json:"indexed"`
	// Detached is the connections, indexed or in the broker, that left
	// PocketBase's connection loop.
	Detached int `json:"detached"`
	// Topics counts the indexed connections by topic.
	Topics map[string]int `json:"topics"`
}

// Stats counts the connections now.
func (s *Index) Stats() Stats {
	stats := Stats{Broker: s.app.SubscriptionsBroker().TotalClients(), Topics: map[string]int{}}
	s.mu.Lock()
	stats.Indexed = len(s.byID)
	for topic, conns := range s.byTopic {
		stats.Topics[topic] = len(conns)
	}
	s.mu.Unlock()
	s.streamsMu.Lock()
	stats.Detached = len(s.streams)
	s.streamsMu.Unlock()
	return stats
}

// Place is where one connection is served from.
type Place struct {
	InBroker bool // in PocketBase's broker
	Indexed  bool // taken out of it
	Detached bool // out of PocketBase's connection loop
}

// PlaceOf is where the connection clientID is served from; false when no
// connection has that id.
func (s *Index) PlaceOf(clientID string) (Place, bool) {
	var place Place
	var conn *connection
	if c, err := s.app.SubscriptionsBroker().ClientById(clientID); err == nil {
		place.InBroker = true
		conn, _ = c.(*connection)
	} else {
		s.mu.Lock()
		conn = s.byID[clientID]
		s.mu.Unlock()
	}
	if conn == nil {
		return place, place.InBroker
	}
	place.Indexed = conn.indexed.Load()
	conn.mu.Lock()
	place.Detached = conn.stream != nil
	conn.mu.Unlock()
	return place, true
}
