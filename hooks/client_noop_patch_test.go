package hooks

import (
	"net/http"
	"testing"
)

// A PATCH that changes nothing writes nothing and sends no realtime
// message: looping one cannot queue messages on the user's connections.
func TestAPatchThatChangesNothingSavesAndBroadcastsNothing(t *testing.T) {
	key := newSigningKey(t, 0, "ins_key1")
	app, url := ownerApp(t, key)
	idA := clientOf(t, app, userA).Id
	record := url + "/api/collections/clients/records/" + idA
	auth := "Bearer " + key.token(t, userA)

	own := connectRealtime(t, url) // the realtime index
	own.subscribe(t, auth, "clients/"+idA)
	all := connectRealtime(t, url) // PocketBase's own loop
	all.subscribe(t, auth, "clients/*")

	before := clientOf(t, app, userA)
	for _, body := range []string{`{}`, `{"bio":""}`, `{"firstName":"Alice","bio":""}`} {
		r := send(t, http.MethodPatch, record, auth, body)
		if r.Status != http.StatusOK || r.Body["id"] != idA || r.Body["firstName"] != "Alice" || r.Body["updated"] != before.GetString("updated") {
			t.Fatalf("PATCH %s: %d %v", body, r.Status, r.Body)
		}
	}
	if after := clientOf(t, app, userA); after.GetString("updated") != before.GetString("updated") {
		t.Fatalf("saved: updated went from %s to %s", before.GetString("updated"), after.GetString("updated"))
	}

	// The first message either connection gets is the first real change.
	if r := send(t, http.MethodPatch, record, auth, `{"bio":"changed"}`); r.Status != http.StatusOK {
		t.Fatalf("a change: %d %v", r.Status, r.Body)
	}
	for name, conn := range map[string]*realtimeConn{"own record": own, "clients/*": all} {
		if ev := conn.next(t); ev.Record()["bio"] != "changed" {
			t.Errorf("%s: the first message is %+v, not the change", name, ev)
		}
	}
}
