package clerkfake

import (
	"encoding/json"
	"strings"

	"github.com/clerk/clerk-sdk-go/v2"
)

// UserFromWebhook is the user of a webhook's data (Clerk's UserJSON) as
// the Backend API serves it: the same, but that each verification also
// names its kind ("object"), which the webhook's user leaves out.
func UserFromWebhook(data []byte) (*clerk.User, error) {
	var u clerk.User
	if err := json.Unmarshal(data, &u); err != nil {
		return nil, err
	}
	for _, e := range u.EmailAddresses {
		setVerificationObject(e.Verification)
	}
	for _, p := range u.PhoneNumbers {
		setVerificationObject(p.Verification)
	}
	return &u, nil
}

func setVerificationObject(v *clerk.Verification) {
	if v == nil || v.Object != "" {
		return
	}
	switch {
	case strings.HasPrefix(v.Strategy, "from_oauth"):
		v.Object = "verification_from_oauth"
	case v.Strategy == "admin", v.Strategy == "ticket", v.Strategy == "saml", v.Strategy == "email_link":
		v.Object = "verification_" + v.Strategy
	default:
		v.Object = "verification_otp"
	}
}
