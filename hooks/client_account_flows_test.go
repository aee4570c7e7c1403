package hooks

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
)

// TestAccountFlowsDoNotTellWhichEmailsAreClients asks every account flow of
// clients about a client's email and about an unknown one: the answers
// must be the same, and no mail goes out.
func TestAccountFlowsDoNotTellWhichEmailsAreClients(t *testing.T) {
	app := newTestApp(t)
	srv := serveWithClerk(t, app, Config{})
	deliver(t, srv.URL, "msg_a", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))
	deliver(t, srv.URL, "msg_b", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userB, "Bob", 1000)))
	known := clientOf(t, app, userB).Email()
	if known == "" {
		t.Fatal("the client has no email")
	}
	unverify := clientOf(t, app, userB)
	unverify.SetVerified(false)
	if err := app.Save(unverify); err != nil {
		t.Fatal(err)
	}
	signedIn := "Bearer " + srv.key.token(t, userA)

	for _, flow := range []struct{ path, field, auth string }{
		{"request-verification", "email", ""},
		{"request-password-reset", "email", ""},
		{"request-otp", "email", ""},
		{"request-email-change", "newEmail", signedIn},
	} {
		answer := func(email string) reply {
			return send(t, http.MethodPost, srv.URL+"/api/collections/clients/"+flow.path, flow.auth, fmt.Sprintf(`{%q:%q}`, flow.field, email))
		}
		client, unknown := answer(known), answer("nobody@example.org")
		// An OTP id is random by design.
		delete(client.Body, "otpId")
		delete(unknown.Body, "otpId")
		if !reflect.DeepEqual(client, unknown) {
			t.Errorf("%s: a client's email gets %+v, an unknown one %+v", flow.path, client, unknown)
		}
	}
	if n := app.TestMailer.TotalSend(); n != 0 {
		t.Fatalf("%d mails sent", n)
	}
}
