package hooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// fuzzSeeds are the Clerk fixtures and a few bodies at the edges of the format.
func fuzzSeeds(f *testing.F) [][]byte {
	seeds := [][]byte{
		readFixture(f, "user.created.json"),
		readFixture(f, "user.updated.json"),
		readFixture(f, "user.deleted.json"),
		[]byte(`{"type":"user.updated","timestamp":1,"data":{"id":"user_1","updated_at":1,"first_name":null}}`),
		[]byte(`{"type":"session.created","data":{"id":"sess_1"}}`),
		[]byte(`{"type":"user.created","data":null}`),
		[]byte(`null`),
	}
	return seeds
}

// FuzzWebhookRequest sends arbitrary headers and bodies, signed or not, to
// the webhook: nothing may panic, and nothing is written unless Svix's own
// verifier accepts the signature.
func FuzzWebhookRequest(f *testing.F) {
	for i, body := range fuzzSeeds(f) {
		id := fmt.Sprint("msg_seed_", i)
		f.Add(true, id, "", "", body)
		f.Add(false, id, "1654012591", "v1,bm90IGEgc2lnbmF0dXJl", body)
	}

	app := newTestApp(f)
	// Without PocketBase's panic recovery, a panic reaches the fuzzer.
	handler := routerHandler(f, app, Config{WebhookSecrets: []string{testSecret}}, apis.DefaultPanicRecoverMiddlewareId)
	verifier, err := svix.NewWebhook(testSecret)
	if err != nil {
		f.Fatal(err)
	}
	rows := func() [3]int64 {
		var n [3]int64
		for i, c := range []string{migrations.ClientsCollection, migrations.EventsCollection, migrations.TombstonesCollection} {
			n[i], _ = app.CountRecords(c)
		}
		return n
	}

	f.Fuzz(func(t *testing.T, sign bool, svixID, timestamp, signature string, body []byte) {
		if sign {
			now := time.Now()
			timestamp = fmt.Sprint(now.Unix())
			if signature, err = verifier.Sign(svixID, now, body); err != nil {
				t.Skip(err)
			}
		}
		req := httptest.NewRequest(http.MethodPost, WebhookPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("svix-id", svixID)
		req.Header.Set("svix-timestamp", timestamp)
		req.Header.Set("svix-signature", signature)
		valid := verifier.Verify(body, req.Header) == nil

		before := rows()
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		after := rows()

		if !valid {
			if rec.Code < 400 {
				t.Fatalf("an invalid signature was answered %d: %s", rec.Code, rec.Body)
			}
			if after != before {
				t.Fatalf("written without a valid signature (clients, log, tombstones: %v -> %v)", before, after)
			}
			return
		}
		if rec.Code == http.StatusOK {
			var r webhookReply
			if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
				t.Fatalf("a 2xx answer is not JSON: %s", rec.Body)
			}
			if !r.Duplicate && after[1] != before[1]+1 {
				t.Fatalf("acknowledged without its log row: %s", rec.Body)
			}
		}
	})
}

// FuzzClientMapping maps arbitrary Clerk payloads onto clients through the
// one apply function: nothing may panic, a failed apply changes nothing,
// and an applied change applied again changes nothing.
func FuzzClientMapping(f *testing.F) {
	for _, body := range fuzzSeeds(f) {
		f.Add(body)
	}
	app := newTestApp(f)
	col, err := app.FindCollectionByNameOrId(migrations.ClientsCollection)
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := decodeDelivery("msg_fuzz", body)
		ch, _ := d.Change.(userChange)
		if err != nil || ch.User == nil {
			return
		}
		setClientFields(&clientRecord{core.NewRecord(col)}, ch.User)

		apply := func() (outcome, error) {
			var result outcome
			err := app.RunInTransaction(func(txApp core.App) error {
				var err error
				result, err = userChange{Type: ch.Type, User: ch.User, At: ch.At}.apply(txApp, mappingConfig{})
				return err
			})
			return result, err
		}
		state := func() string {
			c, err := app.FindFirstRecordByData(migrations.ClientsCollection, "clerkId", ch.User.ID)
			if err != nil {
				return "none"
			}
			return c.GetString("updated") + c.Email()
		}
		before := state()
		first, err := apply()
		if err != nil {
			// A payload the schema rejects (say, a malformed email): Svix retries, nothing is half-written.
			if after := state(); after != before {
				t.Fatalf("a failed apply changed the client: %q, then %q", before, after)
			}
			return
		}
		again, err := apply()
		if err != nil {
			t.Fatalf("%s applied, then failed on the same data: %v", first, err)
		}
		if again != outcomeUnchanged && again != outcomeGone && again != outcomeStale {
			t.Fatalf("applying the same %s twice: %s, then %s", d.Type, first, again)
		}
	})
}
