// Package hooks keeps Clerk's users, organizations and memberships in
// PocketBase: users as the auth collection "clients", organizations and
// memberships in collections of their own, whose rules scope records to a
// user's organizations; and Clerk Billing's plans, subscription items and
// payment attempts, with the entitlements view that rules can read.
//
// It serves POST /api/webhooks/clerk, which verifies Svix signatures and
// applies Clerk's user, organization, membership, billing and session-end events
// exactly once, newest data winning and deletion winning over all; it logs
// every delivery in "clerk_events" and prunes that log on PocketBase's cron.
// Each event becomes a change value, applied by the one function of its
// Clerk object (clerkObjects lists them), as "clerk sync" and first sight
// apply theirs. A Clerk session token (Authorization: Bearer)
// authenticates its user's client on every route, REST and realtime,
// syncing the user, and the token's active organization, on first sight;
// an ended session's tokens are refused and its realtime connections
// signed out. The commands "clerk sync" (backfill and repair from Clerk's
// Backend API) and "clerk send" (a signed sample event) join rootCmd.
// Importing the package registers the migrations of its collections.
//
// Example usage:
//
//	app := pocketbase.NewWithConfig(pocketbase.Config{DBConnect: hooks.DBConnect})
//	config, err := hooks.ConfigFromEnv()
//	if err != nil {
//		log.Fatal(err)
//	}
//	hooks.MustRegister(app, app.RootCmd, config)
//	app.Start()
package hooks

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/cron"
	"github.com/spf13/cobra"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/pocketclerk/pocketclerk/hooks/internal/realtimeindex"
	// The collections' migrations come with the plugin, as jsvm brings its own.
	"github.com/pocketclerk/pocketclerk/migrations"
)

// minEventRetention outlasts Svix's retries (about 27 hours), so that a
// retried delivery still finds its log row.
const minEventRetention = 48 * time.Hour

// defaultWebhookTimeout leaves 5 s of Svix's 15 s for the network.
const defaultWebhookTimeout = 10 * time.Second

// WebhookPath is where Clerk's webhook endpoint must point.
const WebhookPath = "/api/webhooks/clerk"

// Config defines the config options of the hooks plugin.
type Config struct {
	// WebhookSecrets are the Svix signing secrets (whsec_...) that a
	// delivery may be signed with; more than one lets a secret be rotated.
	// With none, the webhook answers 503 and Svix keeps retrying.
	WebhookSecrets []string

	// EventRetention is how long the delivery log keeps a row: at least
	// 2 days, since Svix retries for about 27 hours. Zero means the
	// default, 30 days.
	EventRetention time.Duration

	// SecretKey is Clerk's Backend API key (sk_...): it fetches users on
	// first sight and for "clerk sync", and the JWKS when JWTKey is empty.
	SecretKey string

	// APIURL is the Backend API's base; requests go to APIURL/v1/...
	// Default https://api.clerk.com.
	APIURL string

	// JWTKey is the PEM public key that verifies Clerk session tokens
	// without a network call. Empty: keys come from the JWKS.
	JWTKey string

	// AuthorizedParties, when set, are the origins (azp) a session token
	// must come from.
	AuthorizedParties []string

	// PublishableKey (pk_...) is handed to the profile page in pb_public.
	PublishableKey string

	// WebhookTimeout is the longest a delivery waits to be committed
	// before it is answered 503 (Svix retries it), which must come before
	// Svix gives up on an answer, after 15 s. Zero means the default, 10 s.
	WebhookTimeout time.Duration

	// SyncSchedule is a cron expression; when set, the server runs
	// "clerk sync --prune" on it. Empty: off.
	SyncSchedule string

	// UserDelete is what a user's deletion in Clerk does to the client:
	// UserDeleteDelete (the default) or UserDeleteAnonymize.
	UserDelete string

	// RealtimeIndexOff leaves every realtime connection in PocketBase's own
	// connection loop and broker, as PocketBase serves them: no realtime
	// index, no detach (docs/upgrading.md lists what those lean on).
	RealtimeIndexOff bool
	// BillingPastDue is what a past_due subscription item grants in the
	// entitlements view: BillingPastDueKeep (the default, its plan's
	// features) or BillingPastDueRevoke (nothing).
	BillingPastDue string

	// ReplicaURL, when set, is where the server replicates pb_data/data.db
	// with Litestream: s3://bucket/path or file:///path. Empty: off.
	ReplicaURL string

	// warnings are said at start: what ConfigFromEnv read but did not use.
	warnings []string
}

// ConfigFromEnv reads the configuration from the environment:
//
//	CLERK_WEBHOOK_SECRET       signing secrets, separated by spaces or commas
//	                           (or CLERK_WEBHOOK_SIGNING_SECRET, Clerk's name)
//	CLERK_EVENT_RETENTION_DAYS days to keep the delivery log (default 30)
//	CLERK_SECRET_KEY           Backend API key
//	CLERK_API_URL              Backend API base (default https://api.clerk.com)
//	CLERK_JWT_KEY              PEM public key for session tokens
//	CLERK_AUTHORIZED_PARTIES   allowed azp origins, comma-separated
//	CLERK_PUBLISHABLE_KEY      publishable key for the profile page
//	CLERK_SYNC_SCHEDULE        cron expression for a scheduled repair
//	CLERK_USER_DELETE          delete (default) or anonymize
//	CLERK_REALTIME_INDEX       on (default) or off
//	CLERK_BILLING_PAST_DUE     keep (default) or revoke: a past_due item's features
//	REPLICA_URL                s3://bucket/path or file:///path: replicate data.db
//
// An error names the variable that cannot be read; Register checks the
// values themselves.
func ConfigFromEnv() (Config, error) {
	return configFrom(os.Getenv)
}

func configFrom(getenv func(string) string) (Config, error) {
	c := Config{
		SecretKey:         strings.TrimSpace(getenv("CLERK_SECRET_KEY")),
		APIURL:            strings.TrimSpace(getenv("CLERK_API_URL")),
		JWTKey:            strings.TrimSpace(getenv("CLERK_JWT_KEY")),
		AuthorizedParties: splitList(getenv("CLERK_AUTHORIZED_PARTIES")),
		PublishableKey:    strings.TrimSpace(getenv("CLERK_PUBLISHABLE_KEY")),
		SyncSchedule:      strings.TrimSpace(getenv("CLERK_SYNC_SCHEDULE")),
		UserDelete:        strings.TrimSpace(getenv("CLERK_USER_DELETE")),
		BillingPastDue:    strings.TrimSpace(getenv("CLERK_BILLING_PAST_DUE")),
		ReplicaURL:        strings.TrimSpace(getenv("REPLICA_URL")),
	}
	c.WebhookSecrets, c.warnings = webhookSecretsFrom(getenv)
	switch index := strings.TrimSpace(getenv("CLERK_REALTIME_INDEX")); index {
	case "", "on":
	case "off":
		c.RealtimeIndexOff = true
	default:
		return Config{}, fmt.Errorf("CLERK_REALTIME_INDEX is %q: use on (the default) or off (every realtime connection served by PocketBase's own loop, with more memory and CPU per connection)", index)
	}
	if days := strings.TrimSpace(getenv("CLERK_EVENT_RETENTION_DAYS")); days != "" {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 {
			return Config{}, fmt.Errorf("CLERK_EVENT_RETENTION_DAYS is %q, not a whole number of days: use 2 or more, or leave it empty for 30", days)
		}
		c.EventRetention = time.Duration(n) * 24 * time.Hour
	}
	return c, nil
}

// webhookSecretsFrom reads the signing secrets from CLERK_WEBHOOK_SECRET or,
// when that is empty, from CLERK_WEBHOOK_SIGNING_SECRET, the name Clerk's
// guides give it. When both are set and differ, CLERK_WEBHOOK_SECRET wins
// and a warning says so.
func webhookSecretsFrom(getenv func(string) string) (secrets []string, warnings []string) {
	ours, clerks := splitList(getenv("CLERK_WEBHOOK_SECRET")), splitList(getenv("CLERK_WEBHOOK_SIGNING_SECRET"))
	switch {
	case len(ours) == 0:
		return clerks, nil
	case len(clerks) > 0 && !slices.Equal(ours, clerks):
		warnings = append(warnings, "CLERK_WEBHOOK_SECRET and CLERK_WEBHOOK_SIGNING_SECRET (Clerk's name for the same secret) are both set and differ: CLERK_WEBHOOK_SECRET is used. Keep one of them, set to the endpoint's Signing Secret.")
	}
	return ours, warnings
}

// validate checks the whole configuration, so that Register binds nothing
// unless all of it is usable, and reports every mistake at once.
func (c Config) validate() error {
	var errs []error
	if c.EventRetention != 0 && c.EventRetention < minEventRetention {
		errs = append(errs, errors.New("CLERK_EVENT_RETENTION_DAYS must be a whole number of days, 2 or more (default 30): Svix retries a delivery for about 27 hours, and the log must still know it"))
	}
	if _, err := newVerifiers(c.WebhookSecrets); err != nil {
		errs = append(errs, err)
	}
	if c.JWTKey != "" {
		if _, err := pemPublicKey(c.JWTKey); err != nil {
			errs = append(errs, err)
		}
	}
	if err := checkPublishableKey(c.PublishableKey); err != nil {
		errs = append(errs, err)
	}
	switch c.UserDelete {
	case "", UserDeleteDelete, UserDeleteAnonymize:
	default:
		errs = append(errs, fmt.Errorf("CLERK_USER_DELETE is %q: use %q (the default: delete the client, or anonymize it when a required relation points to it) or %q (always keep the record, without Clerk's data)", c.UserDelete, UserDeleteDelete, UserDeleteAnonymize))
	}
	switch c.BillingPastDue {
	case "", BillingPastDueKeep, BillingPastDueRevoke:
	default:
		errs = append(errs, fmt.Errorf("CLERK_BILLING_PAST_DUE is %q: use %q (the default: a past_due subscription item keeps its plan's features in the entitlements view, as Clerk keeps access) or %q (it grants nothing until the payment succeeds)", c.BillingPastDue, BillingPastDueKeep, BillingPastDueRevoke))
	}
	if c.SyncSchedule != "" {
		if _, err := cron.NewSchedule(c.SyncSchedule); err != nil {
			errs = append(errs, fmt.Errorf("CLERK_SYNC_SCHEDULE %q is not a cron expression (%v): use five fields in UTC such as \"30 3 * * *\" (daily at 03:30) or a macro such as @daily, or leave it empty to turn the scheduled sync off", c.SyncSchedule, err))
		}
		if c.SecretKey == "" {
			errs = append(errs, errors.New("CLERK_SYNC_SCHEDULE is set but CLERK_SECRET_KEY is not: the scheduled sync needs the Backend API secret key (sk_...) from Clerk's dashboard, API keys; set it or unset CLERK_SYNC_SCHEDULE"))
		}
	}
	if c.ReplicaURL != "" {
		if err := checkReplicaURL(c.ReplicaURL); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// MustRegister registers the hooks plugin to the provided app instance
// and panics if it fails.
//
// Example usage:
//
//	hooks.MustRegister(app, app.RootCmd, hooks.Config{})
func MustRegister(app core.App, rootCmd *cobra.Command, config Config) {
	if err := Register(app, rootCmd, config); err != nil {
		panic(err)
	}
}

// Register registers the hooks plugin to the provided app instance.
// rootCmd may be nil; it carries the plugin's commands.
func Register(app core.App, rootCmd *cobra.Command, config Config) error {
	_, err := register(app, rootCmd, config)
	return err
}

// register is Register, which answers the plugin registered.
func register(app core.App, rootCmd *cobra.Command, config Config) (*plugin, error) {
	if err := config.validate(); err != nil {
		return nil, err
	}
	p := &plugin{app: app, config: config, batcher: newBatcher(app), failures: newFailureRecorder(),
		endedSessions: newEndedSessions(), bodyReaders: make(chan struct{}, maxBodyReaders)}
	p.batcher.hookFailed = p.deliveryHookFailed
	p.batcher.afterCommit = func(d delivery) { d.Change.(afterCommitter).afterCommit(p, p.app) }
	app.Store().Set(fanOutStoreKey, p.batcher.fanOut)
	if p.config.EventRetention == 0 {
		p.config.EventRetention = 30 * 24 * time.Hour
	}
	if p.config.WebhookTimeout <= 0 {
		p.config.WebhookTimeout = defaultWebhookTimeout
	}
	if p.config.UserDelete == "" {
		p.config.UserDelete = UserDeleteDelete
	}
	if p.config.BillingPastDue == "" {
		p.config.BillingPastDue = BillingPastDueKeep
	}
	p.plans = newPlanLister(p)
	p.mapping = mappingConfig{UserDelete: p.config.UserDelete, scrubber: &logScrubber{app: app}, newPlan: p.plans.request}
	p.batcher.mapping = p.mapping
	if p.config.APIURL == "" {
		p.config.APIURL = "https://api.clerk.com"
	}
	p.config.APIURL = strings.TrimRight(p.config.APIURL, "/")

	var err error
	if p.secrets, err = newVerifiers(config.WebhookSecrets); err != nil {
		return nil, err
	}
	p.secretKeys = secretKeys(config.WebhookSecrets)
	if err := p.registerAuth(); err != nil {
		return nil, err
	}
	if err := p.registerOps(rootCmd); err != nil {
		return nil, err
	}

	if err := p.registerStatus(); err != nil {
		return nil, err
	}

	app.OnTerminate().BindFunc(func(e *core.TerminateEvent) error {
		p.batcher.stop()
		return e.Next()
	})
	p.registerReplication()

	bindLeanClientSaves(app)
	bindUnchangedUpdates(app)
	p.bindRealtimeLimits()
	bindRuleShortcuts(app)
	if !p.config.RealtimeIndexOff {
		p.realtimeIndex = realtimeindex.Bind(app, realtimeindex.Options{
			WaitingKey:  waitingClerkUserKey,
			RuleHeaders: sessionRuleHeaders,
		})
	}
	bindClerkOwnedFlows(app)
	bindClerkOwnedFields(app)
	bindEditableFields(app)

	app.OnServe().BindFunc(p.onServe)

	err = app.Cron().Add("clerkEventsPrune", "17 3 * * *", func() {
		if err := pruneEvents(app, time.Now().Add(-p.config.EventRetention)); err != nil {
			app.Logger().Error("Pruning the Clerk delivery log failed; it retries tomorrow", "error", err)
		}
		if err := pruneEndedSessions(app, time.Now()); err != nil {
			app.Logger().Error("Pruning the ended Clerk sessions failed; it retries tomorrow", "error", err)
		}
	})
	return p, err
}

// onServe says what the configuration lacks, loads the ended sessions and
// routes the webhook.
func (p *plugin) onServe(se *core.ServeEvent) error {
	for _, msg := range p.config.warnings {
		se.App.Logger().Warn(msg)
		fmt.Fprintln(os.Stderr, "Warning: "+msg)
	}
	if len(p.secrets) == 0 {
		msg := "CLERK_WEBHOOK_SECRET (or CLERK_WEBHOOK_SIGNING_SECRET, as Clerk names it) is not set: " + WebhookPath + " answers 503 until it is. Set it to the endpoint's signing secret from Clerk's dashboard (Webhooks → endpoint → Signing Secret) and restart."
		se.App.Logger().Warn(msg)
		fmt.Fprintln(os.Stderr, "Warning: "+msg)
	}
	warnOpenSignUp(se.App)
	if err := applyBillingPastDue(se.App, p.config.BillingPastDue); err != nil {
		return err
	}
	if err := p.loadEndedSessions(se.App); err != nil {
		return fmt.Errorf("loading the ended Clerk sessions, whose tokens are refused: %w", err)
	}
	// readDelivery bounds the body itself, without PocketBase's copy. A
	// delivery that succeeds has its clerk_events row; a request log row
	// for it too cost about a sixth of the webhook's CPU. Failures are
	// still logged, at error level.
	se.Router.POST(WebhookPath, p.handleWebhook).Bind(apis.SkipSuccessActivityLog()).Unbind(apis.DefaultBodyLimitMiddlewareId)
	se.Router.BindFunc(p.pageSecurityHeaders)
	return se.Next()
}

type plugin struct {
	app     core.App
	config  Config
	mapping mappingConfig // what config says of the mappings
	secrets []*svix.Webhook
	// secretKeys are the secrets' keys, in the same order (see verify).
	secretKeys [][]byte
	batcher    *batcher
	// plans lists Clerk's plans when an item brings one not stored yet.
	plans *planLister

	failures *failureRecorder // the webhook's error answers, for the status
	syncs    syncRunner       // the sync running in this server, one at a time
	applied  appliedHours     // applied deliveries of ended hours, for the status
	// endedSessions are the sessions whose tokens are refused before they
	// expire.
	endedSessions *endedSessions
	// bodyReaders holds a token per webhook body being read and verified.
	bodyReaders chan struct{}
	// replication is data.db's replication while serving with REPLICA_URL.
	replication atomic.Pointer[replication]
	// realtimeIndex serves the realtime connections out of PocketBase's
	// broker and loop; nil with CLERK_REALTIME_INDEX=off.
	realtimeIndex *realtimeindex.Index
}

// clerkConfig is the Backend API client configuration shared by every call
// this plugin makes to Clerk.
func (p *plugin) clerkConfig() *clerk.ClientConfig {
	return &clerk.ClientConfig{BackendConfig: clerk.BackendConfig{
		Key: clerk.String(p.config.SecretKey),
		URL: clerk.String(p.config.APIURL + "/v1"),
	}}
}

// warnOpenSignUp warns when PocketBase's default "users" collection is
// still there: the migrations remove it only while it is empty, and its
// public sign-up is an account beside Clerk that any rule not naming its
// collection would admit.
func warnOpenSignUp(app core.App) {
	users, err := app.FindCollectionByNameOrId(migrations.DefaultUsersCollection)
	if err != nil || !users.IsAuth() {
		return
	}
	n, _ := app.CountRecords(users)
	msg := fmt.Sprintf("PocketBase's default %q auth collection was kept because it holds %d records", users.Name, n)
	if users.CreateRule != nil && *users.CreateRule == "" {
		msg += "; anyone can sign up to it (its create rule is public)"
	}
	msg += ". Users sign up with Clerk here: if you do not use it, delete it in the dashboard (Collections → users), or set its create rule to superusers only; and make every rule you write name its collection, e.g. @request.auth.collectionName = \"clients\"."
	app.Logger().Warn(msg)
	fmt.Fprintln(os.Stderr, "Warning: "+msg)
}

// checkPublishableKey refuses anything but a Clerk publishable key:
// GET /api/clerk/config hands it to anyone, so a secret key put there by
// mistake must never be served. A publishable key is pk_test_ or pk_live_
// followed by the base64 of the Frontend API host and a "$".
func checkPublishableKey(key string) error {
	if key == "" {
		return nil
	}
	const fix = "; copy the Publishable key (pk_test_... or pk_live_...) from Clerk's dashboard, API keys, or leave CLERK_PUBLISHABLE_KEY empty"
	if strings.HasPrefix(key, "sk_") {
		return errors.New("CLERK_PUBLISHABLE_KEY holds a secret key (sk_...), which GET " + ClerkConfigPath + " would hand to anyone: put it in CLERK_SECRET_KEY instead" + fix)
	}
	encoded, ok := strings.CutPrefix(key, "pk_test_")
	if !ok {
		encoded, ok = strings.CutPrefix(key, "pk_live_")
	}
	host, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(encoded, "="))
	if !ok || err != nil || !strings.HasSuffix(string(host), "$") || len(host) < 2 {
		return errors.New("CLERK_PUBLISHABLE_KEY is not a Clerk publishable key" + fix)
	}
	return nil
}

// splitList splits a list separated by spaces or commas.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}
