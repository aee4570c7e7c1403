package hooks

import (
	"encoding/json/v2"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"

	"github.com/pocketclerk/pocketclerk/hooks/internal/realtimeindex"
)

// PocketBase checks a realtime subscription's rules with the headers of the
// subscription's options, which the client writes into the subscription
// itself ("topic?options={"query":…,"headers":…}"), whether the connection
// is in its broker or in the realtime index. The x_clerk_… headers the
// client wrote are removed, and a connection signed in with a Clerk session
// token gets the token's: the realtime index's connections answer with
// them (realtimeindex.SetRuleHeaders, with sessionRuleHeaders as its
// Options.RuleHeaders); with the index off, bindSessionSubscriptions
// rewrites each subscription as it is made. A new token, with another
// active organization, takes effect when the client subscribes again.
//
// A message is named after its subscription, and clients (PocketBase's JS
// SDK, the profile page) listen by the name they subscribed with: a
// rewritten subscription's messages get that name back as they are sent.
func bindSessionSubscriptions(app core.App) {
	app.OnRealtimeSubscribeRequest().Bind(&hook.Handler[*core.RealtimeSubscribeRequestEvent]{
		// After the other subscribe hooks, an owner's included: they see the
		// subscriptions as the client made them.
		Priority: realtimeindex.LastSubscribePriority,
		Func:     rewriteSubscriptions,
	})
	app.OnRealtimeMessageSend().Bind(&hook.Handler[*core.RealtimeMessageEvent]{
		// Before any other hook: an owner's hook sees the name its client
		// subscribed with.
		Priority: realtimeindex.FirstMessagePriority,
		Func: func(e *core.RealtimeMessageEvent) error {
			if names, _ := e.Client.Get(subscriptionNamesKey).(*subscriptionNames); names != nil {
				if name, ok := names.original(e.Message.Name); ok {
					msg := *e.Message
					msg.Name = name
					e.Message = &msg
				}
			}
			return e.Next()
		},
	})
}

// rewriteSubscriptions gives each subscription to a collection's records
// the verified headers of the request's Clerk session, or none.
func rewriteSubscriptions(e *core.RealtimeSubscribeRequestEvent) error {
	var headers map[string]string
	if h, _ := e.Get(clerkSessionHeadersKey).(*claimHeaders); h != nil {
		_, waiting := e.Get(waitingClerkUserKey).(string)
		if isClient(e.Auth) || waiting {
			headers = h.ruleHeaders()
		}
	}
	if realtimeindex.SetRuleHeaders(e.Client, headers) {
		// The index's connection gives every subscription the same map of
		// headers instead (sessionRuleHeaders): one copy per connection,
		// not one in each subscription's name and options.
		return e.Next()
	}
	renamed := map[string]string{}
	// A copy: an earlier hook may hold the slice it was handed.
	e.Subscriptions = slices.Clone(e.Subscriptions)
	for i, sub := range e.Subscriptions {
		// Only a collection's topics have rules. Others are left as the
		// client wrote them: an owner's code finds its connections by the
		// exact topic (HasSubscription), as PocketBase's OAuth2 flow does.
		if parseTopic(e.App, sub).collection == nil {
			continue
		}
		rewritten, changed := withSessionHeaders(sub, headers)
		if !changed {
			continue
		}
		// Two subscriptions that differ only by the headers removed stay two.
		for n, base := 2, rewritten; renamed[rewritten] != "" || slices.Contains(e.Subscriptions, rewritten); n++ {
			rewritten = base + "&pocketclerk_sub=" + strconv.Itoa(n)
		}
		renamed[rewritten] = sub
		e.Subscriptions[i] = rewritten
	}
	names, _ := e.Client.Get(subscriptionNamesKey).(*subscriptionNames)
	if names == nil && len(renamed) > 0 {
		names = &subscriptionNames{}
		e.Client.Set(subscriptionNamesKey, names)
	}
	if names != nil {
		names.replace(renamed)
	}
	return e.Next()
}

// sessionRuleHeaders is what the rules of a subscription to a collection
// read as headers: those of its options but any x_clerk_… one, which the
// client wrote, and the session's. A subscription with no other header
// shares session itself. It tells whether that differs from options.
func sessionRuleHeaders(options, session map[string]string) (map[string]string, bool) {
	others := 0
	for name := range options {
		// PocketBase's client holds the names as rules read them.
		if !strings.HasPrefix(name, clerkHeaderPrefix) {
			others++
		}
	}
	switch {
	case others == len(options) && len(session) == 0:
		return options, false
	case others == 0 && session != nil:
		return session, true
	}
	headers := make(map[string]string, others+len(session))
	for name, value := range options {
		if !strings.HasPrefix(name, clerkHeaderPrefix) {
			headers[name] = value
		}
	}
	maps.Copy(headers, session)
	return headers, true
}

const subscriptionNamesKey = "clerkSubscriptionNames"

// subscriptionNames maps a connection's rewritten subscriptions to the ones
// its client made. The previous subscribe's are kept: a message made just
// before a new subscribe may be sent after it.
type subscriptionNames struct {
	mu        sync.RWMutex
	cur, prev map[string]string
}

func (n *subscriptionNames) replace(renamed map[string]string) {
	n.mu.Lock()
	n.prev, n.cur = n.cur, renamed
	n.mu.Unlock()
}

func (n *subscriptionNames) original(name string) (string, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if s, ok := n.cur[name]; ok {
		return s, true
	}
	s, ok := n.prev[name]
	return s, ok
}

// subscriptionOptions is how PocketBase reads a subscription's options
// (tools/subscriptions/client.go, Subscribe, v0.40.4): the same decoder,
// so that what is removed here is all that it would read.
type subscriptionOptions struct {
	Query   map[string]any `json:"query"`
	Headers map[string]any `json:"headers"`
}

// withSessionHeaders is sub with the x_clerk_… headers of its options
// replaced by headers (none: only removed). It tells whether sub changed.
// Options that PocketBase would fail to read are replaced by headers alone.
func withSessionHeaders(sub string, headers map[string]string) (string, bool) {
	topic, _, _ := strings.Cut(sub, "?")
	u, err := url.Parse(sub)
	if err != nil {
		// PocketBase reads no options from it: no header reaches a rule.
		return sub, false
	}
	query := u.Query()
	var options subscriptionOptions
	raw := query.Get("options")
	if raw == "" && len(headers) == 0 {
		return sub, false
	}
	forged := false
	if raw != "" && json.Unmarshal([]byte(raw), &options) != nil {
		// PocketBase keeps what it read before the error (a second
		// "headers", say): none of it is kept.
		options, forged = subscriptionOptions{}, true
	}
	for name := range options.Headers {
		if isClerkHeader(name) {
			delete(options.Headers, name)
			forged = true
		}
	}
	if !forged && len(headers) == 0 {
		return sub, false
	}
	if options.Headers == nil {
		options.Headers = map[string]any{}
	}
	for name, value := range headers {
		options.Headers[name] = value
	}
	encoded, err := json.Marshal(&options, json.Deterministic(true))
	if err != nil {
		return sub, false
	}
	query.Set("options", string(encoded))
	return topic + "?" + query.Encode(), true
}
