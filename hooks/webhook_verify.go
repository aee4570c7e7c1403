package hooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// svixNoMatch is svix.Verify's error text for a signature that matches
// none (its error values are unexported).
const svixNoMatch = "no matching signature found"

var errNoMatchingSignature = errors.New(svixNoMatch)

// verify accepts a body signed with any configured secret, so a secret can
// be rotated without dropping deliveries.
//
// svix.Verify, which decides, copies the whole body twice to sign it; an
// unsigned flood of 1 MiB bodies would make that garbage faster than the
// collector frees it. So a body is first checked with svix on no payload
// (headers and timestamp: cheap), then with an HMAC over the body as it
// is, computed as svix computes it; only a body that passes that is
// handed to svix.Verify.
func (p *plugin) verify(body []byte, header http.Header) error {
	id, timestamp, signatures := signedHeaders(header)
	var err error
	for i, wh := range p.secrets {
		if err = wh.Verify(nil, header); err != nil && err.Error() != svixNoMatch {
			return err // missing headers, a timestamp out of tolerance
		}
		if !signedWith(p.secretKeys[i], id, timestamp, body, signatures) {
			err = errNoMatchingSignature
			continue
		}
		if err = wh.Verify(body, header); err == nil {
			return nil
		}
	}
	return err
}

// signedHeaders picks the header set svix.Verify checks: svix-* when all
// three are present, otherwise webhook-*.
func signedHeaders(h http.Header) (id, timestamp, signatures string) {
	id, timestamp, signatures = h.Get("svix-id"), h.Get("svix-timestamp"), h.Get("svix-signature")
	if id == "" || timestamp == "" || signatures == "" {
		return h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	}
	return id, timestamp, signatures
}

// signedWith reports whether signatures hold a v1 signature of body by key,
// computed as svix's Webhook.Sign does, without copying body.
func signedWith(key []byte, id, timestamp string, body []byte, signatures string) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	mac.Write(body)
	want := make([]byte, base64.StdEncoding.EncodedLen(sha256.Size))
	base64.StdEncoding.Encode(want, mac.Sum(nil))
	for _, versioned := range strings.Split(signatures, " ") {
		parts := strings.Split(versioned, ",")
		if len(parts) >= 2 && parts[0] == "v1" && hmac.Equal([]byte(parts[1]), want) {
			return true
		}
	}
	return false
}

// secretKeys decodes the signing secrets as svix.NewWebhook does.
func secretKeys(secrets []string) [][]byte {
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		keys[i], _ = base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
	}
	return keys
}
