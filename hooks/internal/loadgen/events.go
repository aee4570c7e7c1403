// Package loadgen drives a running PocketClerk server the way Clerk and
// Svix do: it builds Clerk user events, signs them with a Svix secret, sends
// them from concurrent senders and records every answer. The benchmark and
// the crash-safety test share it.
package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"github.com/pocketclerk/pocketclerk/hooks"
)

// WebhookPath is where the server takes Clerk's webhooks.
const WebhookPath = hooks.WebhookPath

// User is the part of a Clerk user that the load varies; the rest of the
// payload comes from a real Clerk fixture, so bodies have Clerk's size and shape.
type User struct {
	ID        string
	Email     string
	FirstName string
	LastName  string
	CreatedAt int64 // Unix milliseconds
	UpdatedAt int64 // Unix milliseconds
}

// Template turns Users into Clerk webhook bodies.
type Template struct {
	envelope map[string]any
	data     map[string]any
}

// NewTemplate parses a Clerk user.created fixture.
func NewTemplate(fixture []byte) (*Template, error) {
	var env map[string]any
	if err := json.Unmarshal(fixture, &env); err != nil {
		return nil, fmt.Errorf("the fixture is not JSON: %w", err)
	}
	data, ok := env["data"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the fixture has no data object")
	}
	return &Template{envelope: env, data: data}, nil
}

// Body is a Clerk event of type typ (user.created, user.updated) for u.
func (t *Template) Body(typ string, u User) []byte {
	env := make(map[string]any, len(t.envelope))
	for k, v := range t.envelope {
		env[k] = v
	}
	env["type"] = typ
	env["timestamp"] = u.UpdatedAt
	env["data"] = t.UserData(u)
	b, _ := json.Marshal(env)
	return b
}

// UserData is u as Clerk's Backend API and webhooks represent a user.
func (t *Template) UserData(u User) map[string]any {
	data := make(map[string]any, len(t.data))
	for k, v := range t.data {
		data[k] = v
	}
	emailID := "idn_" + u.ID
	data["id"] = u.ID
	data["first_name"] = u.FirstName
	data["last_name"] = u.LastName
	data["email_addresses"] = []any{map[string]any{
		"id": emailID, "object": "email_address", "email_address": u.Email, "linked_to": []any{},
		"reserved": false, "created_at": u.CreatedAt, "updated_at": u.UpdatedAt,
		"verification": map[string]any{"status": "verified", "strategy": "email_code", "attempts": nil, "expire_at": nil},
	}}
	data["primary_email_address_id"] = emailID
	data["created_at"] = u.CreatedAt
	data["updated_at"] = u.UpdatedAt
	data["last_sign_in_at"] = u.UpdatedAt
	data["last_active_at"] = u.UpdatedAt
	return data
}

// DeletedBody is Clerk's user.deleted event for id, emitted at the given
// Unix milliseconds.
func DeletedBody(id string, at int64) []byte {
	b, _ := json.Marshal(map[string]any{
		"type": "user.deleted", "object": "event", "timestamp": at,
		"data": map[string]any{"id": id, "deleted": true, "object": "user"},
	})
	return b
}

// Signer signs bodies as Svix does for one endpoint secret.
type Signer struct {
	wh *svix.Webhook
}

// NewSigner takes a whsec_ secret.
func NewSigner(secret string) (*Signer, error) {
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		return nil, err
	}
	return &Signer{wh: wh}, nil
}

// Delivery is one signed webhook message, ready to be sent any number of
// times (Svix retries with the same svix-id and a fresh signature).
type Delivery struct {
	SvixID string
	Body   []byte
}

// Request signs d now and builds its POST to baseURL, as "clerk send" does.
func (s *Signer) Request(baseURL string, d Delivery) (*http.Request, error) {
	return hooks.NewWebhookRequest(context.Background(), s.wh, baseURL+WebhookPath, d.SvixID, time.Now(), d.Body)
}
