package hooks

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"
)

// TestSignatureFilterAgreesWithSvix: the copy-free check that runs before
// svix.Verify accepts every signature svix accepts, whatever the header
// set or the number of signatures.
func TestSignatureFilterAgreesWithSvix(t *testing.T) {
	wh, _ := svix.NewWebhook(testSecret)
	key := secretKeys([]string{testSecret})[0]
	body := readFixture(t, "user.created.json")
	now := time.Now()
	sig, _ := wh.Sign("msg_1", now, body)
	other, _ := svix.NewWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	otherSig, _ := other.Sign("msg_1", now, body)
	ts := now.Unix()

	for name, c := range map[string]struct {
		id, ts, sigs string
		body         []byte
	}{
		"signed":                  {"msg_1", itoa(ts), sig, body},
		"among others":            {"msg_1", itoa(ts), "v2,xyz " + otherSig + " " + sig, body},
		"leading zero in the ts":  {"msg_1", "0" + itoa(ts), sig, body},
		"another secret":          {"msg_1", itoa(ts), otherSig, body},
		"another body":            {"msg_1", itoa(ts), sig, append([]byte(" "), body...)},
		"another id":              {"msg_2", itoa(ts), sig, body},
		"no signature":            {"msg_1", itoa(ts), "", body},
		"a timestamp not numeric": {"msg_1", "x", sig, body},
	} {
		h := http.Header{}
		h.Set("webhook-id", c.id)
		h.Set("webhook-timestamp", c.ts)
		h.Set("webhook-signature", c.sigs)
		id, tsHeader, sigs := signedHeaders(h)
		filter := signedWith(key, id, tsHeader, c.body, sigs)
		if svixOK := wh.Verify(c.body, h) == nil; filter != svixOK {
			t.Errorf("%s: filter %v, svix %v", name, filter, svixOK)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
