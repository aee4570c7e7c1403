package realtimeindex

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/subscriptions"
)

// connection is a realtime connection that can leave PocketBase's
// broker without ending, and PocketBase's connection loop too (detach).
//
// It keeps PocketBase's client for its id, store and subscriptions, and
// replaces its channel: PocketBase's loop reads Channel until the connection
// is detached; then Send writes to the connection itself (sseStream).
type connection struct {
	subscriptions.Client
	app       core.App
	indexedAs []string    // its topics, while indexed (guarded by Index.mu)
	leaving   atomic.Bool // the broker is letting go of it: its Discard must not close it
	indexed   atomic.Bool
	// loopLetGo is set while PocketBase's loop returns to let go of the
	// connection for a detach: see loopView.
	loopLetGo atomic.Bool

	canDetach bool // an HTTP/1.x GET answered by net/http itself, which can be hijacked

	mu        sync.Mutex
	ch        chan subscriptions.Message
	chClosed  bool
	sending   int // Sends waiting on ch
	discarded bool
	detach    bool                    // PocketBase's loop is asked to let go: ch closes once no Send waits on it
	pending   []subscriptions.Message // sent after that and before the stream is attached
	stream    *sseStream
	// settled is closed once the connection is attached to its stream or
	// discarded: PocketBase's loop, and the Unregister of the connection's id
	// that it makes as it returns, are then behind it.
	settled       chan struct{}
	settledClosed bool
	detachWaiters atomic.Int32 // giveBacks waiting in waitDetached

	authMu  sync.Mutex
	authRef *authRef // the auth, while indexed (auth.go)

	// signedIn indexes the connection by its auth; signedInAs is its key
	// there, and signedInForgotten says it ended (both guarded by signedIn.mu).
	signedIn          *signedInConns
	signedInAs        string
	signedInForgotten bool

	// stopLoopWrites fails the write that PocketBase's loop is making, if
	// any, while the loop runs (fallBehind). It is dropped when the loop
	// returns: it holds net/http's response, and with it the connection's
	// buffers, which a detached connection does without.
	stopLoopWrites atomic.Pointer[func()]

	topicsMu sync.RWMutex
	byTopic  map[string]map[string]subscriptions.SubscriptionOptions // see Subscriptions
	// ruleHeaders are the headers handed to the connection, one map that
	// every subscription's options share (see SetRuleHeaders), and
	// ruleHeadersOf what they make of a subscription's (Options.RuleHeaders).
	ruleHeaders   map[string]string
	ruleHeadersOf func(options, handed map[string]string) (map[string]string, bool)
}

func newConnection(app core.App, client subscriptions.Client) *connection {
	return &connection{Client: client, app: app, ch: make(chan subscriptions.Message), settled: make(chan struct{})}
}

// Subscriptions answers PocketBase's broadcast.
//
// PocketBase's broadcast asks each connection for the topics of a record in
// six forms ("<collection>/<id>?", "<collection>/*?", …), and its client
// answers by writing every topic it holds out again with a "?": with a
// hundred topics on each of many connections, that was most of a change's
// cost. A form of one topic is answered from byTopic instead.
func (c *connection) Subscriptions(prefixes ...string) map[string]subscriptions.SubscriptionOptions {
	c.topicsMu.RLock()
	defer c.topicsMu.RUnlock()
	if len(prefixes) == 1 {
		if topic, ok := strings.CutSuffix(prefixes[0], "?"); ok && !strings.Contains(topic, "?") {
			return c.byTopic[topic] // replaced, never changed: the caller may read it
		}
	}
	// Any other form as PocketBase's client answers it, from byTopic: its
	// options are the ones rules read (see Options.RuleHeaders).
	result := map[string]subscriptions.SubscriptionOptions{}
	for _, subs := range c.byTopic {
		for sub, options := range subs {
			if len(prefixes) == 0 || slices.ContainsFunc(prefixes, func(prefix string) bool { return strings.HasPrefix(sub+"?", prefix) }) {
				result[sub] = options
			}
		}
	}
	return result
}

func (c *connection) Subscribe(subs ...string) {
	c.topicsMu.Lock()
	defer c.topicsMu.Unlock()
	c.Client.Subscribe(subs...)
	c.indexTopics()
}

func (c *connection) Unsubscribe(subs ...string) {
	c.topicsMu.Lock()
	defer c.topicsMu.Unlock()
	c.Client.Unsubscribe(subs...)
	c.indexTopics()
}

// indexTopics groups the connection's subscriptions by topic, the part
// before "?", each with the headers its rules read (c.topicsMu held).
func (c *connection) indexTopics() {
	byTopic := map[string]map[string]subscriptions.SubscriptionOptions{}
	for sub, options := range c.Client.Subscriptions() {
		topic, _, _ := strings.Cut(sub, "?")
		if byTopic[topic] == nil {
			byTopic[topic] = map[string]subscriptions.SubscriptionOptions{}
		}
		// Only a collection's topics have rules: others keep the headers
		// the client wrote, for an owner's code.
		if c.ruleHeadersOf != nil {
			if headers, changed := c.ruleHeadersOf(options.Headers, c.ruleHeaders); changed && c.isCollectionTopic(topic) {
				options.Headers = headers
			}
		}
		byTopic[topic][sub] = options
	}
	c.byTopic = byTopic
}

// isCollectionTopic tells whether topic is of a collection's records
// ("<collection>", "<collection>/…", by name or id).
func (c *connection) isCollectionTopic(topic string) bool {
	collection, _, _ := strings.Cut(topic, "/")
	_, err := c.app.FindCachedCollectionByNameOrId(collection)
	return err == nil
}

// SetRuleHeaders hands client's next subscriptions to a collection's
// records headers for their rules to read (nil: none), which
// Options.RuleHeaders merges with those of each subscription's options:
// one map per connection instead of a copy in every subscription's name
// and options. It tells whether client is a connection of an index; any
// other is PocketBase's, whose rules read the headers of the
// subscriptions alone.
func SetRuleHeaders(client subscriptions.Client, headers map[string]string) bool {
	c, ok := client.(*connection)
	if !ok {
		return false
	}
	c.topicsMu.Lock()
	c.ruleHeaders = headers
	c.topicsMu.Unlock()
	return true
}
