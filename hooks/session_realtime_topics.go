package hooks

import (
	"slices"

	"github.com/pocketbase/pocketbase/tools/subscriptions"
)

// PocketBase's broadcast asks every connection, for every changed record,
// for its subscriptions under six prefixes (apis/realtime.go,
// realtimeBroadcastRecord), and DefaultClient.Subscriptions answers by
// building a string per subscription per prefix and a map per call. With
// the profile page's second connection (memberships and organizations) in
// PocketBase's loop, a user.updated cost 12,000 such calls per 1,000 pages
// and most of the server's CPU, almost all of it for prefixes the
// connection has no topic under. topicList answers those without
// allocating, from a copy of the topics kept as they change.
type topicList struct {
	topics []string // sorted; replaced, never changed in place
}

// matches reports whether a topic starts with one of prefixes, as
// DefaultClient.Subscriptions tests it: strings.HasPrefix(topic+"?", prefix).
func (l *topicList) matches(prefixes []string) bool {
	for _, prefix := range prefixes {
		for _, topic := range l.topics {
			if prefix == "" || topic == "" || prefix[0] != topic[0] {
				if prefix == "" {
					return len(l.topics) > 0
				}
				continue // most topics differ from the first byte
			}
			if len(prefix) <= len(topic) {
				if topic[:len(prefix)] == prefix {
					return true
				}
			} else if len(prefix) == len(topic)+1 && prefix[len(topic)] == '?' && prefix[:len(topic)] == topic {
				return true
			}
		}
	}
	return false
}

// Subscribe and Unsubscribe keep the connection's copy of its topics.
func (c *ownRecordConn) Subscribe(subs ...string) {
	c.topicsMu.Lock()
	defer c.topicsMu.Unlock()
	c.Client.Subscribe(subs...)
	c.keepTopics()
}

func (c *ownRecordConn) Unsubscribe(subs ...string) {
	c.topicsMu.Lock()
	defer c.topicsMu.Unlock()
	c.Client.Unsubscribe(subs...)
	c.keepTopics()
}

// keepTopics copies the connection's topics; call with topicsMu held.
func (c *ownRecordConn) keepTopics() {
	all := c.Client.Subscriptions()
	topics := make([]string, 0, len(all))
	for topic := range all {
		topics = append(topics, topic)
	}
	slices.Sort(topics)
	c.topics.Store(&topicList{topics: topics})
}

// Subscriptions hides an indexed connection's topics from PocketBase's
// walks, which may still hold it from just before it was indexed: its
// messages come from the index alone. For the others it answers as
// PocketBase's client does, without its cost when nothing matches.
func (c *ownRecordConn) Subscriptions(prefixes ...string) map[string]subscriptions.SubscriptionOptions {
	if c.indexed.Load() {
		return nil
	}
	if len(prefixes) > 0 {
		if l := c.topics.Load(); l == nil || !l.matches(prefixes) {
			return nil
		}
	}
	return c.Client.Subscriptions(prefixes...)
}
