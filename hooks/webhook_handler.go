package hooks

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/pocketbase/pocketbase/core"
	svix "github.com/svix/svix-webhooks/go"
)

// maxWebhookBody bounds a delivery; Clerk's user payloads are a few KiB.
const maxWebhookBody = 1 << 20

// delivery is one verified Svix message.
type delivery struct {
	SvixID string
	Type   string
	At     time.Time
	// User is set for user events only, and UserJSON is its JSON.
	User     *clerk.User
	UserJSON json.RawMessage
	// Organization and Membership are set for their own events only.
	Organization *clerk.Organization
	Membership   *clerk.OrganizationMembership
}

// envelope is the part of Clerk's webhook body that the sync reads.
type envelope struct {
	Type      string          `json:"type"`
	Timestamp int64           `json:"timestamp"` // Unix milliseconds
	Data      json.RawMessage `json:"data"`
}

// webhookReply is the JSON body of a 2xx answer.
type webhookReply struct {
	SvixID  string  `json:"svixId"`
	Outcome outcome `json:"outcome,omitempty"`
	// Duplicate is true when this svix-id was applied before; Outcome is then empty.
	Duplicate bool `json:"duplicate,omitzero"`
}

func (p *plugin) handleWebhook(e *core.RequestEvent) error {
	if len(p.secrets) == 0 {
		return e.Error(http.StatusServiceUnavailable,
			"Clerk webhooks are not configured: set CLERK_WEBHOOK_SECRET to the endpoint's signing secret (whsec_...) from Clerk's dashboard and restart; Svix retries until then.", nil)
	}

	body, err := io.ReadAll(io.LimitReader(e.Request.Body, maxWebhookBody+1))
	if err != nil {
		return e.BadRequestError("Could not read the webhook body.", err)
	}
	if len(body) > maxWebhookBody {
		return e.Error(http.StatusRequestEntityTooLarge, "The webhook body is larger than 1 MiB; Clerk's user events are far smaller.", nil)
	}

	svixID, err := messageID(e.Request.Header)
	if err != nil {
		return e.BadRequestError(err.Error(), nil)
	}
	if err := p.verify(body, e.Request.Header); err != nil {
		return e.UnauthorizedError("Invalid webhook signature ("+err.Error()+"): check that CLERK_WEBHOOK_SECRET is this endpoint's signing secret in Clerk's dashboard and that the server clock is right.", nil)
	}

	d, err := decodeDelivery(svixID, body)
	if err != nil {
		return e.BadRequestError("Invalid Clerk event: "+err.Error()+".", nil)
	}

	started := time.Now()
	result, duplicate, err := p.batcher.commit(d)
	attrs := []any{
		slog.String("svixId", d.SvixID),
		slog.String("type", d.Type),
		slog.String("clerkId", d.clerkID()),
		slog.String("duration", time.Since(started).String()), // the dashboard's log store cannot encode a time.Duration
	}
	if err != nil {
		e.App.Logger().Error("Clerk webhook not applied; Svix will retry it", append(attrs, slog.String("error", err.Error()))...)
		return e.InternalServerError("The event could not be applied; it will be applied on Svix's retry.", err)
	}
	// clerk_events records every applied delivery, so success is logged at
	// debug level only (Settings → Logs → minimum level shows it).
	if duplicate {
		e.App.Logger().Debug("Clerk webhook already applied", attrs...)
	} else {
		e.App.Logger().Debug("Clerk webhook", append(attrs, slog.String("outcome", string(result)))...)
	}
	return e.JSON(http.StatusOK, webhookReply{SvixID: d.SvixID, Outcome: result, Duplicate: duplicate})
}

// verify accepts a body signed with any configured secret, so a secret can
// be rotated without dropping deliveries.
func (p *plugin) verify(body []byte, header http.Header) error {
	var first error
	for _, wh := range p.secrets {
		err := wh.Verify(body, header)
		if err == nil {
			return nil
		}
		// During a rotation, the secret that signed the delivery says what
		// is wrong with it (its timestamp), not the others' "no matching
		// signature".
		if wh.VerifyIgnoringTimestamp(body, header) == nil {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// messageID is the id Svix keeps across retries: the one of the header set
// that svix.Verify checks (svix-* when all three are present, otherwise the
// Standard Webhooks webhook-* ones), so that a replay cannot choose the id
// it is deduplicated under. Two ids that disagree are refused.
func messageID(h http.Header) (string, error) {
	svixID, webhookID := h.Get("svix-id"), h.Get("webhook-id")
	if svixID != "" && webhookID != "" && svixID != webhookID {
		return "", errors.New("the svix-id and webhook-id headers name different messages; Svix sends one id: check what rewrites the headers between Svix and this server")
	}
	if svixID != "" && h.Get("svix-signature") != "" && h.Get("svix-timestamp") != "" {
		return svixID, nil
	}
	return webhookID, nil
}

func decodeDelivery(svixID string, body []byte) (delivery, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return delivery{}, errors.New("the body is not JSON")
	}
	if env.Type == "" {
		return delivery{}, errors.New("the event has no type")
	}
	d := delivery{SvixID: svixID, Type: env.Type, At: time.UnixMilli(env.Timestamp)}
	switch env.Type {
	case eventUserCreated, eventUserUpdated, eventUserDeleted:
		if err := json.Unmarshal(env.Data, &d.User); err != nil || d.User == nil {
			return delivery{}, errors.New("data is not a Clerk user")
		}
		if d.User.ID == "" {
			return delivery{}, errors.New("data.id is missing")
		}
		d.UserJSON = env.Data
	default:
		if err := decodeOrganizationData(&d, env.Data); err != nil {
			return delivery{}, err
		}
	}
	return d, nil
}

func (d delivery) clerkID() string {
	switch {
	case d.User != nil:
		return d.User.ID
	case d.Organization != nil:
		return d.Organization.ID
	case d.Membership != nil:
		return d.Membership.ID
	}
	return ""
}

// commitDelivery applies a delivery and logs it in one transaction: a log
// row exists exactly when the effect was committed. The log's unique svixId
// index recognises a redelivery, even one racing its twin: the second
// insert fails, and its transaction, effect included, is rolled back.
func commitDelivery(app core.App, d delivery) (result outcome, duplicate bool, err error) {
	err = app.RunInTransaction(func(txApp core.App) error {
		result, err = applyDelivery(txApp, d)
		return err
	})
	if errors.Is(err, errDuplicate) {
		return "", true, nil
	}
	return result, false, err
}

// applyDelivery applies and logs d inside a transaction.
func applyDelivery(txApp core.App, d delivery) (outcome, error) {
	result := outcomeIgnored
	var err error
	switch {
	case d.User != nil:
		result, err = applyUserEvent(txApp, userChange{Type: d.Type, User: d.User, UserJSON: d.UserJSON, At: d.At})
	case d.Organization != nil, d.Membership != nil:
		result, err = applyOrganizationDelivery(txApp, d)
	}
	if err != nil {
		return "", err
	}
	return result, logDelivery(txApp, d, result)
}

// newVerifiers parses the configured Svix secrets.
func newVerifiers(secrets []string) ([]*svix.Webhook, error) {
	var out []*svix.Webhook
	for _, s := range secrets {
		wh, err := svix.NewWebhook(s)
		if err != nil {
			return nil, errors.New("CLERK_WEBHOOK_SECRET holds a value that is not a Svix signing secret (expected whsec_ followed by base64): copy it again from Clerk's dashboard, Webhooks → your endpoint → Signing Secret")
		}
		out = append(out, wh)
	}
	return out, nil
}
