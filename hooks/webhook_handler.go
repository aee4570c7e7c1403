package hooks

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/router"
	svix "github.com/svix/svix-webhooks/go"
)

// verifiedDeliveryIDKey holds, in the request's store, the id of a
// delivery whose signature was verified: the only id the status may show.
const verifiedDeliveryIDKey = "pocketclerk.verifiedDeliveryId"

// maxWebhookBody bounds a delivery; Clerk's user payloads are a few KiB.
const maxWebhookBody = 1 << 20

const (
	// maxBodyReaders bounds the webhook bodies read and verified at once,
	// and so the memory that unsigned requests can take (1 MiB each).
	// Verification takes microseconds: a few readers serve thousands of
	// deliveries a second.
	maxBodyReaders = 8
	// bodyReaderWait is how long a request waits for a free reader before
	// it is answered 503 (Svix retries).
	bodyReaderWait = 5 * time.Second
)

// delivery is one verified Svix message.
type delivery struct {
	SvixID string
	Type   string
	At     time.Time
	// Change is what the event changes; nil for a type the app does not
	// keep, which is logged as ignored.
	Change change
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
			"Clerk webhooks are not configured: set CLERK_WEBHOOK_SECRET (or CLERK_WEBHOOK_SIGNING_SECRET) to the endpoint's signing secret (whsec_...) from Clerk's dashboard and restart; Svix retries until then.", nil)
	}

	d, err := p.readDelivery(e)
	if err != nil {
		return err
	}

	started := time.Now()
	result, duplicate, err := p.batcher.commit(d, p.config.WebhookTimeout)
	attrs := []any{
		slog.String("svixId", d.SvixID),
		slog.String("type", d.Type),
		slog.String("clerkId", d.clerkID()),
		slog.String("duration", time.Since(started).String()), // the dashboard's log store cannot encode a time.Duration
	}
	if errors.Is(err, errCommitTimeout) {
		e.App.Logger().Warn("Clerk webhook not applied in time: the database is busy (another process holding SQLite's write lock, such as a long clerk sync or a backup?); Svix will retry it", attrs...)
		return e.Error(http.StatusServiceUnavailable, "The database is busy; the event was not applied and will be on Svix's retry.", nil)
	}
	if err != nil {
		e.App.Logger().Error("Clerk webhook not applied; Svix will retry it", append(attrs, slog.String("error", err.Error()))...)
		return e.InternalServerError("The event could not be applied; it will be applied on Svix's retry.", err)
	}
	// clerk_events records every applied delivery, so success is logged at
	// debug level only (Settings → Logs → minimum level shows it).
	if step, ok := d.Change.(afterCommitter); ok {
		step.beforeAnswer(p)
	}
	if duplicate {
		e.App.Logger().Debug("Clerk webhook already applied", attrs...)
	} else {
		e.App.Logger().Debug("Clerk webhook", append(attrs, slog.String("outcome", string(result)))...)
	}
	return e.JSON(http.StatusOK, webhookReply{SvixID: d.SvixID, Outcome: result, Duplicate: duplicate})
}

// readDelivery reads, verifies and decodes a delivery. Until its signature
// is checked a body may come from anyone, so the memory it may take is
// bounded: at most maxBodyReaders bodies are read at once, each into a
// pooled buffer (not through PocketBase's rereadable copy), and a request
// that finds no reader free within bodyReaderWait is answered 503.
func (p *plugin) readDelivery(e *core.RequestEvent) (delivery, error) {
	if e.Request.ContentLength > maxWebhookBody {
		return delivery{}, e.Error(http.StatusRequestEntityTooLarge, "The webhook body is larger than 1 MiB; Clerk's events are far smaller.", nil)
	}
	svixID, err := messageID(e.Request.Header)
	if err != nil {
		return delivery{}, e.BadRequestError(err.Error(), nil)
	}

	wait := time.NewTimer(bodyReaderWait)
	defer wait.Stop()
	select {
	case p.bodyReaders <- struct{}{}:
		defer func() { <-p.bodyReaders }()
	case <-wait.C:
		return delivery{}, e.Error(http.StatusServiceUnavailable, "Too many webhook requests are being read at once; Svix retries.", nil)
	case <-e.Request.Context().Done():
		return delivery{}, e.Request.Context().Err()
	}
	buf := bodyBuffers.Get().(*[]byte)
	defer bodyBuffers.Put(buf)

	n, err := io.ReadFull(rawBody(e.Request), *buf)
	switch {
	case err == nil: // the buffer is full: one byte more than allowed
		return delivery{}, e.Error(http.StatusRequestEntityTooLarge, "The webhook body is larger than 1 MiB; Clerk's events are far smaller.", nil)
	case err != io.EOF && err != io.ErrUnexpectedEOF:
		return delivery{}, e.BadRequestError("Could not read the webhook body.", err)
	}
	body := (*buf)[:n]

	if err := p.verify(body, e.Request.Header); err != nil {
		return delivery{}, e.UnauthorizedError("Invalid webhook signature ("+err.Error()+"): check that CLERK_WEBHOOK_SECRET is this endpoint's signing secret in Clerk's dashboard and that the server clock is right.", nil)
	}
	e.Set(verifiedDeliveryIDKey, svixID)
	// Decoding copies what it keeps, so the buffer can go back to the pool.
	d, err := decodeDelivery(svixID, body)
	if err != nil {
		return delivery{}, e.BadRequestError("Invalid Clerk event: "+err.Error()+".", nil)
	}
	return d, nil
}

// rawBody is the request's body without PocketBase's rereadable wrapper,
// which keeps a copy of everything read.
func rawBody(r *http.Request) io.Reader {
	if rr, ok := r.Body.(*router.RereadableReadCloser); ok {
		return rr.ReadCloser
	}
	return r.Body
}

// bodyBuffers hold webhook bodies while they are verified; one byte more
// than the limit tells a body that is too large.
var bodyBuffers = sync.Pool{New: func() any {
	b := make([]byte, maxWebhookBody+1)
	return &b
}}

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
	if decode := decoders[env.Type]; decode != nil {
		var err error
		if d.Change, err = decode(env.Type, d.At, env.Data); err != nil {
			return delivery{}, err
		}
	}
	return d, nil
}

func (d delivery) clerkID() string {
	if d.Change == nil {
		return ""
	}
	return d.Change.clerkID()
}

// applyDelivery applies and logs d inside a transaction.
func applyDelivery(txApp core.App, d delivery, config mappingConfig) (outcome, error) {
	result := outcomeIgnored
	if d.Change != nil {
		var err error
		if result, err = d.Change.apply(txApp, config); err != nil {
			return "", err
		}
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
