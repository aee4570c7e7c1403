package hooks

import (
	"net/http"
	"testing"
	"time"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// standardWebhooksRequest is signedRequest with the Standard Webhooks header
// names, which svix.Verify accepts when the svix-* set is incomplete.
func standardWebhooksRequest(t *testing.T, url, svixID string, body []byte) *http.Request {
	t.Helper()
	req := signedRequest(t, url, testSecret, svixID, time.Now(), body)
	for _, name := range []string{"id", "timestamp", "signature"} {
		req.Header.Set("webhook-"+name, req.Header.Get("svix-"+name))
		req.Header.Del("svix-" + name)
	}
	return req
}

func TestWebhookReplayCannotChooseItsSvixID(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	body := readFixture(t, "user.created.json")

	// A captured delivery, resent with its webhook-* headers and the id of a
	// message still to come: refused, nothing written, nothing claimed.
	replay := standardWebhooksRequest(t, srv.URL, "msg_real", body)
	replay.Header.Set("svix-id", "msg_chosen")
	r := do(t, replay)
	if r.Status != http.StatusBadRequest {
		t.Fatalf("replay under a chosen svix-id: %+v", r)
	}
	mustContain(t, r.Body["message"], "svix-id and webhook-id")
	if n := count(t, app, migrations.EventsCollection, ""); n != 0 {
		t.Fatalf("the replay logged %d rows", n)
	}

	// The message that the replay tried to pre-claim is applied, not a duplicate.
	if r := deliver(t, srv.URL, "msg_chosen", body); r.Status != http.StatusOK || r.Body["duplicate"] == true || r.Body["outcome"] != "created" {
		t.Fatalf("the real delivery after the replay: %+v", r)
	}
}

func TestWebhookDedupesOnTheVerifiedHeaderSet(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	body := readFixture(t, "user.created.json")

	// Only webhook-* headers: logged under webhook-id.
	if r := do(t, standardWebhooksRequest(t, srv.URL, "msg_std", body)); r.Status != http.StatusOK || r.Body["svixId"] != "msg_std" {
		t.Fatalf("Standard Webhooks delivery: %+v", r)
	}
	// An incomplete svix-* set with the same id is the same message.
	again := standardWebhooksRequest(t, srv.URL, "msg_std", body)
	again.Header.Set("svix-id", "msg_std")
	if r := do(t, again); r.Status != http.StatusOK || r.Body["duplicate"] != true {
		t.Fatalf("the same message with both ids: %+v", r)
	}
	if n := count(t, app, migrations.EventsCollection, "svixId = 'msg_std'"); n != 1 {
		t.Fatalf("%d log rows for msg_std", n)
	}
}
