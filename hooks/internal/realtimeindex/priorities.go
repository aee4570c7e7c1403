package realtimeindex

// Hook priorities around PocketBase's realtime handlers, for the index and
// for the app that binds it: their order is what makes them work, so they
// are named here, together. docs/upgrading.md lists the tests that check
// them against PocketBase.
const (
	// PocketBaseRealtimePriority is where PocketBase v0.40.4 binds its
	// realtime model hooks (apis/realtime.go): the broadcast of a record's
	// create, update and delete, and the refresh of the subscribers' auth
	// on its update.
	PocketBaseRealtimePriority = -99
	// PocketBaseDryCachePriority is where PocketBase makes a deletion's
	// messages before the deletion (OnModelDelete), as late as possible.
	PocketBaseDryCachePriority = 99

	// BeforeRealtimePriority runs a model hook right before PocketBase's
	// realtime handlers: the index sets its view of the broker on the event
	// there (SetViewPriority); an app signs in the connections waiting for a
	// created record, so that they hear of its creation, and holds an
	// updated record on its connections before PocketBase refreshes their
	// auth.
	BeforeRealtimePriority = PocketBaseRealtimePriority - 1
	// AfterRealtimePriority runs a model hook right after them: the index
	// takes its view off (TakeViewPriority); an app signs out connections
	// after PocketBase refreshed their auth.
	AfterRealtimePriority = PocketBaseRealtimePriority + 1
	// AroundViewPriority runs a model hook around the index's view: a hook
	// there that wraps the event's app for PocketBase's handlers (an app
	// that answers some rules itself) wraps the view, and the view is what
	// the index finds when it takes it off.
	AroundViewPriority = PocketBaseRealtimePriority - 2

	// SetViewPriority and TakeViewPriority set the index's view of the
	// broker around PocketBase's realtime handlers of a record's change.
	SetViewPriority  = BeforeRealtimePriority
	TakeViewPriority = AfterRealtimePriority
	// SetDryCacheViewPriority and TakeDryCacheViewPriority set it around
	// PocketBase's dry cache of a deletion's messages.
	SetDryCacheViewPriority  = PocketBaseDryCachePriority - 1
	TakeDryCacheViewPriority = PocketBaseDryCachePriority + 1

	// FirstSubscribePriority runs a subscribe hook before every other one,
	// an owner's included: they see the topics it keeps (an app's limits).
	FirstSubscribePriority = -200
	// IndexSubscribePriority is the index's subscribe hook: around the
	// other subscribe hooks, it sees the final auth and topics.
	IndexSubscribePriority = -100
	// LastSubscribePriority runs a subscribe hook after every other one,
	// just before PocketBase stores the subscriptions: an app that
	// rewrites them (SetRuleHeaders) does so there, so that the other hooks
	// see them as the client made them.
	LastSubscribePriority = 1000

	// IndexConnectPriority is the index's connect hook, which wraps the
	// connection for the other hooks and PocketBase's loop.
	IndexConnectPriority = -100
	// FirstMessagePriority runs a message hook before every other one, an
	// owner's included (an app that renames a message back to the
	// subscription its client made).
	FirstMessagePriority = -200
	// IndexMessagePriority is the index's message hook, which bounds the
	// write of each message of PocketBase's loop.
	IndexMessagePriority = -100
)
