package hooks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/ksuid"
	"github.com/spf13/cobra"
	svix "github.com/svix/svix-webhooks/go"
)

// defaultSendURL is where "make run" serves the webhook.
const defaultSendURL = "http://127.0.0.1:8090" + WebhookPath

// noDatabaseAnnotation marks a command that needs no database.
const noDatabaseAnnotation = "pocketclerk:no-database"

// OpensNoDatabase reports whether args name a command that needs no
// database, such as "clerk send". PocketBase opens the data folder, creating
// it if missing, before any command runs; the binary runs these commands
// without that step.
func OpensNoDatabase(rootCmd *cobra.Command, args []string) bool {
	cmd, _, err := rootCmd.Find(args)
	return err == nil && cmd.Annotations[noDatabaseAnnotation] == "true"
}

// sendOptions is one "clerk send".
type sendOptions struct {
	Type   string
	URL    string
	Secret string
	UserID string // empty: a new user
	// OrgID and Role are for organization and membership events.
	OrgID string // empty: a new organization
	Role  string
	// Plan is the plan's slug of billing events, whose payer is OrgID when
	// set, else UserID.
	Plan string
}

func (p *plugin) sendCommand() *cobra.Command {
	var opts sendOptions
	cmd := &cobra.Command{
		Use:   "send <event type>",
		Short: "Post a signed Clerk event to a webhook endpoint, as Clerk would",
		Long: `Builds a Clerk event, signs it with CLERK_WEBHOOK_SECRET (or --secret) and
posts it. Event types: user.created, user.updated, user.deleted,
organization.created, organization.updated, organization.deleted,
organizationMembership.created, organizationMembership.updated and
organizationMembership.deleted, and Clerk Billing's subscription.*,
subscriptionItem.* and paymentAttempt.* events. Repeat with the printed
--user-id and --org-id to walk one user, organization or membership through
its events (a user and an organization have one membership, whose id both
determine). A billing event's payer is --org-id when given, else the user;
a payer has one subscription item and one payment attempt per --plan.`,
		Example: `  pocketclerk clerk send user.created
  pocketclerk clerk send user.updated --user-id user_2abc...
  pocketclerk clerk send user.deleted --user-id user_2abc... --url https://example.com/api/webhooks/clerk
  pocketclerk clerk send organizationMembership.created --user-id user_2abc... --role org:admin
  pocketclerk clerk send organizationMembership.updated --user-id user_2abc... --org-id org_2def... --role org:member
  pocketclerk clerk send organization.deleted --org-id org_2def...
  pocketclerk clerk send subscriptionItem.active --user-id user_2abc... --plan pro
  pocketclerk clerk send subscriptionItem.canceled --org-id org_2def... --plan team`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("name one event type to send: %s", strings.Join(cmd.ValidArgs, ", "))
			}
			return nil
		},
		ValidArgs:    slices.Concat([]string{eventUserCreated, eventUserUpdated, eventUserDeleted}, orgEventTypes, billingEvents),
		SilenceUsage: true,
		Annotations:  map[string]string{noDatabaseAnnotation: "true"},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Type = args[0]
			if opts.Secret == "" && len(p.config.WebhookSecrets) > 0 {
				opts.Secret = p.config.WebhookSecrets[0]
			}
			return sendEvent(cmd.Context(), opts, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&opts.URL, "url", defaultSendURL, "the webhook endpoint")
	cmd.Flags().StringVar(&opts.Secret, "secret", "", "the signing secret (whsec_...); default: CLERK_WEBHOOK_SECRET, else CLERK_WEBHOOK_SIGNING_SECRET")
	cmd.Flags().StringVar(&opts.UserID, "user-id", "", "the Clerk user id (user_...); default: a new user")
	cmd.Flags().StringVar(&opts.OrgID, "org-id", "", "the Clerk organization id (org_...) of organization and membership events; default: a new organization")
	cmd.Flags().StringVar(&opts.Role, "role", "org:member", "the member's role in membership events")
	cmd.Flags().StringVar(&opts.Plan, "plan", "pro", "the plan's slug in billing events (a slug with free in it is a free plan)")
	return cmd
}

// sendEvent signs and posts one event, printing the answer to out. An
// answer other than 2xx is an error.
func sendEvent(ctx context.Context, opts sendOptions, out io.Writer) error {
	billingEvent := slices.Contains(billingEvents, opts.Type)
	switch {
	case opts.Type == eventUserCreated || opts.Type == eventUserUpdated || opts.Type == eventUserDeleted:
	case billingEvent:
		if opts.Plan == "" {
			opts.Plan = "pro"
		}
		if err := checkBillingSend(opts); err != nil {
			return err
		}
	case !slices.Contains(orgEventTypes, opts.Type):
		return fmt.Errorf("unknown event type %q: use user.created, user.updated, user.deleted, %s, %s", opts.Type, strings.Join(orgEventTypes, ", "), strings.Join(billingEvents, ", "))
	default:
		if err := checkOrgSend(opts); err != nil {
			return err
		}
	}
	if opts.Secret == "" {
		return errors.New("no signing secret: pass --secret with the endpoint's whsec_ secret, or set CLERK_WEBHOOK_SECRET as the server has it")
	}
	wh, err := svix.NewWebhook(opts.Secret)
	if err != nil {
		return errors.New("the signing secret is not a Svix secret (expected whsec_ followed by base64)")
	}
	if opts.URL == "" {
		opts.URL = defaultSendURL
	}

	now := time.Now()
	if opts.UserID == "" {
		if opts.UserID, err = newClerkID("user_", now); err != nil {
			return err
		}
	}
	event, subject := clerkEvent(opts.Type, opts.UserID, now), opts.UserID
	if slices.Contains(orgEventTypes, opts.Type) {
		if event, subject, err = clerkOrgEvent(&opts, now); err != nil {
			return err
		}
	}
	if billingEvent {
		event, subject = clerkBillingEvent(opts, now)
	}
	body, err := json.Marshal(event)
	if err != nil {
		return err
	}
	msgID, err := newClerkID("msg_", now)
	if err != nil {
		return err
	}
	req, err := NewWebhookRequest(ctx, wh, opts.URL, msgID, now, body)
	if err != nil {
		return fmt.Errorf("invalid --url: %w", err)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("posting to %s: %w (is the server running?)", opts.URL, err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))

	fmt.Fprintf(out, "%s %s for %s (svix-id %s)\n%s %s\n", opts.Type, opts.URL, subject, msgID, res.Status, strings.TrimSpace(string(answer)))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("the endpoint answered %s", res.Status)
	}
	if billingEvent {
		fmt.Fprintln(out, billingSendHint(opts))
	} else if slices.Contains(orgEventTypes, opts.Type) {
		if hint := orgSendHint(opts); hint != "" {
			fmt.Fprintln(out, hint)
		}
	} else if opts.Type != eventUserDeleted {
		fmt.Fprintf(out, "next: clerk send user.updated --user-id %s (or user.deleted)\n", opts.UserID)
	}
	return nil
}

// NewWebhookRequest is a POST of a Clerk event body to url as Svix
// delivers it: the svix-id, svix-timestamp and svix-signature headers, signed
// with wh. "clerk send" posts with it, and so can an app's own tests of the
// endpoint.
func NewWebhookRequest(ctx context.Context, wh *svix.Webhook, url, svixID string, at time.Time, body []byte) (*http.Request, error) {
	sig, err := wh.Sign(svixID, at, body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("svix-id", svixID)
	req.Header.Set("svix-timestamp", strconv.FormatInt(at.Unix(), 10))
	req.Header.Set("svix-signature", sig)
	return req, nil
}

// clerkEvent is a Clerk webhook body for userID, shaped like the events
// Clerk sends (testdata/user.created.json). updated_at is now, so each
// send is newer than the one before.
func clerkEvent(eventType, userID string, now time.Time) map[string]any {
	ms := now.UnixMilli()
	var data map[string]any
	if eventType == eventUserDeleted {
		data = map[string]any{"deleted": true, "id": userID, "object": "user"}
	} else {
		created := clerkIDTime(userID, now).UnixMilli()
		emailID := "idn_" + strings.TrimPrefix(userID, "user_") + "e"
		who := sendPersonOf(userID)
		lastName, role := who.last, "member"
		if eventType == eventUserUpdated {
			lastName, role = who.otherLast, "admin"
		}
		data = map[string]any{
			"object": "user", "id": userID,
			"first_name": who.first, "last_name": lastName, "username": nil,
			"image_url": "https://img.clerk.com/placeholder", "has_image": false,
			"primary_email_address_id": emailID, "primary_phone_number_id": nil, "primary_web3_wallet_id": nil,
			"email_addresses": []any{map[string]any{
				"object": "email_address", "id": emailID,
				"email_address": strings.ToLower(userID) + "@example.com",
				"verification":  map[string]any{"status": "verified", "strategy": "email_code", "attempts": 1, "expire_at": nil},
				"linked_to":     []any{}, "reserved": false, "created_at": created, "updated_at": created,
			}},
			"phone_numbers": []any{}, "web3_wallets": []any{}, "passkeys": []any{},
			"external_accounts": []any{}, "saml_accounts": []any{}, "enterprise_accounts": []any{},
			"public_metadata": map[string]any{"role": role}, "private_metadata": map[string]any{},
			"unsafe_metadata": map[string]any{}, "external_id": nil,
			"password_enabled": false, "two_factor_enabled": false, "totp_enabled": false, "backup_code_enabled": false,
			"banned": false, "locked": false, "lockout_expires_in_seconds": nil,
			"create_organization_enabled": true, "delete_self_enabled": true, "legal_accepted_at": nil,
			"last_sign_in_at": nil, "last_active_at": ms, "created_at": created, "updated_at": ms,
		}
	}
	return map[string]any{
		"object": "event", "type": eventType, "timestamp": ms, "data": data,
		"instance_id": "ins_clerksend",
		"event_attributes": map[string]any{"http_request": map[string]any{
			"client_ip": "127.0.0.1", "user_agent": "pocketclerk clerk send",
		}},
	}
}

// sendPerson is the name "clerk send" gives a user: one of a few, chosen by
// the id, so that the users sent look different in the dashboard and keep
// their name on every send. otherLast is the last name user.updated sends.
type sendPerson struct{ first, last, otherLast string }

var sendPeople = []sendPerson{
	{"Ada", "Lovelace", "King"},
	{"Grace", "Hopper", "Murray"},
	{"Katherine", "Johnson", "Goble"},
	{"Hedy", "Lamarr", "Kiesler"},
	{"Mary", "Jackson", "Winston"},
	{"Dorothy", "Vaughan", "Johnson"},
	{"Annie", "Easley", "Jean"},
	{"Margaret", "Hamilton", "Heafield"},
}

func sendPersonOf(userID string) sendPerson {
	return sendPeople[pick(userID, len(sendPeople))]
}

// pick is a number below n that an id always gives.
func pick(id string, n int) int {
	sum := sha256.Sum256([]byte(id))
	return int(sum[0]) % n
}

// Clerk ids are a prefix and a KSUID, which begins with its creation time
// (seconds): building them the same way keeps a user's created_at the same
// on every send.
func newClerkID(prefix string, at time.Time) (string, error) {
	id, err := ksuid.NewRandomWithTime(at)
	if err != nil {
		return "", err
	}
	return prefix + id.String(), nil
}

// clerkIDTime is the creation time inside a Clerk id, or fallback when the
// id is not a KSUID.
func clerkIDTime(id string, fallback time.Time) time.Time {
	_, k, _ := strings.Cut(id, "_")
	parsed, err := ksuid.Parse(k)
	if err != nil {
		return fallback
	}
	return parsed.Time()
}
