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
	subs     []subscription // its subscriptions: PocketBase's client holds none (see Subscribe)
	// ruleHeaders are the headers handed to the connection, one map that
	// every subscription's options share (see SetRuleHeaders), and
	// ruleHeadersOf what they make of a subscription's (Options.RuleHeaders).
	ruleHeaders   map[string]string
	ruleHeadersOf func(options, handed map[string]string) (map[string]string, bool)
}

func newConnection(app core.App, client subscriptions.Client) *connection {
	return &connection{Client: client, app: app, ch: make(chan subscriptions.Message), settled: make(chan struct{})}
}

// subscription is one of a connection's subscriptions: its name as the
// client wrote it, its topic (the part before "?") and its options.
type subscription struct {
	name, topic string
	options     subscriptions.SubscriptionOptions
}

// Subscriptions answers as PocketBase's client does: the subscriptions
// whose name followed by "?" begins with one of prefixes (all of them
// without any). The map is made at each call that finds one, as
// PocketBase's client makes it (nil when none matches, which PocketBase's
// broadcast only ranges over): a connection holds no copy per topic form.
func (c *connection) Subscriptions(prefixes ...string) map[string]subscriptions.SubscriptionOptions {
	c.topicsMu.RLock()
	defer c.topicsMu.RUnlock()
	var result map[string]subscriptions.SubscriptionOptions
	for _, sub := range c.subs {
		if len(prefixes) == 0 || slices.ContainsFunc(prefixes, func(prefix string) bool { return hasPrefixBeforeQuery(sub.name, prefix) }) {
			if result == nil {
				result = make(map[string]subscriptions.SubscriptionOptions, 1)
			}
			result[sub.name] = sub.options
		}
	}
	return result
}

// hasPrefixBeforeQuery is strings.HasPrefix(name+"?", prefix), PocketBase's
// test, without making the string.
func hasPrefixBeforeQuery(name, prefix string) bool {
	if len(prefix) <= len(name) {
		return strings.HasPrefix(name, prefix)
	}
	return len(prefix) == len(name)+1 && prefix[len(name)] == '?' && prefix[:len(name)] == name
}

func (c *connection) HasSubscription(name string) bool {
	c.topicsMu.RLock()
	defer c.topicsMu.RUnlock()
	return slices.ContainsFunc(c.subs, func(sub subscription) bool { return sub.name == name })
}

// Subscribe reads subs as PocketBase's client does, with a client of its
// own that is then dropped: the connection keeps one copy of each, with
// the headers its rules read.
func (c *connection) Subscribe(subs ...string) {
	parsed := subscriptions.NewDefaultClient()
	parsed.Subscribe(subs...)
	added := parsed.Subscriptions()
	c.topicsMu.Lock()
	defer c.topicsMu.Unlock()
	c.subs = slices.DeleteFunc(c.subs, func(sub subscription) bool { _, again := added[sub.name]; return again })
	for name, options := range added {
		topic, _, _ := strings.Cut(name, "?")
		// Only a collection's topics have rules: others keep the headers
		// the client wrote, for an owner's code.
		if c.ruleHeadersOf != nil && c.isCollectionTopic(topic) {
			if headers, changed := c.ruleHeadersOf(options.Headers, c.ruleHeaders); changed {
				options.Headers = headers
			}
		}
		c.subs = append(c.subs, subscription{name: name, topic: topic, options: options})
	}
	c.subs = slices.Clip(c.subs)
}

// Unsubscribe drops subs, or every subscription without any.
func (c *connection) Unsubscribe(subs ...string) {
	c.topicsMu.Lock()
	defer c.topicsMu.Unlock()
	if len(subs) == 0 {
		c.subs = nil
		return
	}
	c.subs = slices.DeleteFunc(c.subs, func(sub subscription) bool { return slices.Contains(subs, sub.name) })
}

// topics are the connection's topics, each once.
func (c *connection) topics() []string {
	c.topicsMu.RLock()
	defer c.topicsMu.RUnlock()
	topics := make([]string, 0, len(c.subs))
	for _, sub := range c.subs {
		if !slices.Contains(topics, sub.topic) {
			topics = append(topics, sub.topic)
		}
	}
	return topics
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
