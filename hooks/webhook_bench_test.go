package hooks

import (
	"bytes"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pocketbase/pocketbase/core"
)

// In-process benchmarks of the webhook path next to PocketBase's own REST
// PATCH of the same fields, for profiling (go test -bench . -cpuprofile).
// `make bench` measures the built binary over loopback.

func BenchmarkWebhookUserCreated(b *testing.B) {
	app := newTestApp(b)
	srv := serve(b, app, Config{WebhookSecrets: []string{testSecret}})
	bodies := make([][]byte, b.N)
	for i := range int64(b.N) {
		bodies[i] = benchUserBody(b, eventUserCreated, fmt.Sprintf("user_c%d", i), i, 1000)
	}
	sendParallel(b, srv.URL, bodies)
}

func BenchmarkWebhookUserUpdated(b *testing.B) {
	app := newTestApp(b)
	srv := serve(b, app, Config{WebhookSecrets: []string{testSecret}})
	const users = 500
	for i := range int64(users) {
		deliver(b, srv.URL, fmt.Sprintf("msg_seed%d", i), benchUserBody(b, eventUserCreated, fmt.Sprintf("user_%d", i), i, 1000))
	}
	bodies := make([][]byte, b.N)
	for i := range int64(b.N) {
		bodies[i] = benchUserBody(b, eventUserUpdated, fmt.Sprintf("user_%d", i%users), i%users, 1001+i)
	}
	sendParallel(b, srv.URL, bodies)
}

// sendParallel delivers bodies from 16 goroutines, each with its own svix-id.
func sendParallel(b *testing.B, url string, bodies [][]byte) {
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1) - 1
			if r := do(b, signedRequest(b, url, testSecret, fmt.Sprintf("msg_%d", i), time.Now(), bodies[i])); r.Status != 200 {
				b.Fatal(r)
			}
		}
	})
}

// BenchmarkRESTPatchBaseline updates fields of the same types as a
// user.updated through PocketBase's REST API. Clerk's own fields refuse
// changes made through the API, so it writes fields an owner added.
func BenchmarkRESTPatchBaseline(b *testing.B) {
	app := newTestApp(b)
	clients := must(app.FindCollectionByNameOrId("clients"))
	clients.Fields.Add(&core.TextField{Name: "ownFirstName"}, &core.TextField{Name: "ownLastName"},
		&core.DateField{Name: "ownUpdatedAt"}, &core.JSONField{Name: "ownMetadata"})
	if err := app.Save(clients); err != nil {
		b.Fatal(err)
	}
	srv := serve(b, app, Config{WebhookSecrets: []string{testSecret}})
	const users = 500
	ids := make([]string, users)
	for i := range int64(users) {
		deliver(b, srv.URL, fmt.Sprintf("msg_seed%d", i), benchUserBody(b, eventUserCreated, fmt.Sprintf("user_%d", i), i, 1000))
		ids[i] = clientOf(b, app, fmt.Sprintf("user_%d", i)).Id
	}
	su := core.NewRecord(must(app.FindCollectionByNameOrId(core.CollectionNameSuperusers)))
	su.SetEmail("bench@example.org")
	su.SetPassword("benchmark-password")
	if err := app.Save(su); err != nil {
		b.Fatal(err)
	}
	token := authToken(b, su)
	var n atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Sprintf(`{"ownFirstName":"First %d","ownLastName":"Last %d","ownUpdatedAt":%q,"ownMetadata":{"n":%d}}`,
				i, i, time.UnixMilli(1000+i).UTC().Format(types.DefaultDateLayout), i)
			req, _ := http.NewRequest(http.MethodPatch, srv.URL+"/api/collections/clients/records/"+ids[i%users], bytes.NewReader([]byte(body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", token)
			if r := do(b, req); r.Status != 200 {
				b.Fatal(r)
			}
		}
	})
}

func benchUserBody(tb testing.TB, typ, id string, i, updated int64) []byte {
	return userEventBody(typ, func(u map[string]any) {
		u["id"] = id
		u["first_name"] = fmt.Sprintf("First %d", updated)
		u["last_name"] = fmt.Sprintf("Last %d", updated)
		u["updated_at"] = updated
		u["public_metadata"] = map[string]any{"n": updated}
		u["email_addresses"] = []any{map[string]any{"id": "idn_1", "email_address": fmt.Sprintf("u%d@example.org", i)}}
		u["primary_email_address_id"] = "idn_1"
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
