// Package realtimeindex serves PocketBase's realtime connections from an
// index by topic, out of PocketBase's broker and connection loop.
//
// PocketBase's realtime walks every connection of its broker for every
// record change: once to refresh the auth of the connections signed in as
// the record, and once per topic form to find the subscribers
// (apis/realtime.go, realtimeUpdateClientsAuth and realtimeBroadcastRecord).
// With a connection or two per signed-in user, that is work per event that
// grows with the users, while a user's record may change at every sign-in
// (Clerk sends user.updated).
//
// The index takes the connections whose topics are all record
// topics ("<collection>/<id>", "<collection>/*") out of PocketBase's broker
// and indexes them by topic. For each record change, PocketBase's own
// realtime handlers run on a broker that holds the connections left in its
// broker and those of the index that can hear of the record: subscribed to
// one of its topics, or signed in as it (brokerView). The messages, rule
// checks, filters, expands, enrich hooks and dry caches are PocketBase's
// own; what the index saves is the walk over everyone else. A connection
// with any other topic (an owner's custom topic) stays in the broker, where
// the owner's code finds it. A connection that sends a new subscription goes
// back to the broker first, and is taken out again when it still qualifies.
//
// Every connection also leaves PocketBase's connection loop (detach): a
// request in progress holds a goroutine with a deep stack, net/http's
// buffers and PocketBase's request state, about 45 KB per connection, which
// a detached connection does without. Its messages still go through
// OnRealtimeMessageSend, with PocketBase's idle timeout and lifetime. On
// Linux one goroutine notices the hangups of all detached connections
// (hangup_linux.go), so that an open connection holds no goroutine.
package realtimeindex
