package hooks

import (
	"encoding/json"
	"slices"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/pocketbase/pocketbase/tools/types"
)

// The lists of a Clerk user's identifiers, as clients stores them: the few
// keys an app reads, in PocketBase's camelCase, with Clerk's verification
// object reduced to "verified" and the primary one marked. Clerk's whole
// object stays in clerkUser.

type emailAddressEntry struct {
	ID           string `json:"id"`
	EmailAddress string `json:"emailAddress"`
	Verified     bool   `json:"verified"`
	Primary      bool   `json:"primary"`
}

type phoneNumberEntry struct {
	ID          string `json:"id"`
	PhoneNumber string `json:"phoneNumber"`
	Verified    bool   `json:"verified"`
	Primary     bool   `json:"primary"`
}

type web3WalletEntry struct {
	ID         string `json:"id"`
	Web3Wallet string `json:"web3Wallet"`
	Verified   bool   `json:"verified"`
	Primary    bool   `json:"primary"`
}

// externalAccountEntry is an OAuth, SAML or enterprise SSO account.
type externalAccountEntry struct {
	ID             string `json:"id"`
	Provider       string `json:"provider"` // e.g. oauth_google, saml_okta
	EmailAddress   string `json:"emailAddress"`
	Username       string `json:"username"`
	ProviderUserID string `json:"providerUserId"`
	Verified       bool   `json:"verified"`
}

func emailAddressList(u *clerk.User) types.JSONRaw {
	out := make([]emailAddressEntry, 0, len(u.EmailAddresses))
	for _, e := range u.EmailAddresses {
		if e != nil {
			out = append(out, emailAddressEntry{e.ID, e.EmailAddress, isVerified(e.Verification), e.ID == deref(u.PrimaryEmailAddressID)})
		}
	}
	return jsonList(out)
}

func phoneNumberList(u *clerk.User) types.JSONRaw {
	out := make([]phoneNumberEntry, 0, len(u.PhoneNumbers))
	for _, p := range u.PhoneNumbers {
		if p != nil {
			out = append(out, phoneNumberEntry{p.ID, p.PhoneNumber, isVerified(p.Verification), p.ID == deref(u.PrimaryPhoneNumberID)})
		}
	}
	return jsonList(out)
}

func web3WalletList(u *clerk.User) types.JSONRaw {
	out := make([]web3WalletEntry, 0, len(u.Web3Wallets))
	for _, w := range u.Web3Wallets {
		if w != nil {
			out = append(out, web3WalletEntry{w.ID, w.Web3Wallet, isVerified(w.Verification), w.ID == deref(u.PrimaryWeb3WalletID)})
		}
	}
	return jsonList(out)
}

func externalAccountList(u *clerk.User) types.JSONRaw {
	out := make([]externalAccountEntry, 0, len(u.ExternalAccounts)+len(u.SAMLAccounts)+len(u.EnterpriseAccounts))
	for _, a := range u.ExternalAccounts {
		if a != nil {
			out = append(out, externalAccountEntry{a.ID, a.Provider, a.EmailAddress, deref(a.Username), a.ProviderUserID, isVerified(a.Verification)})
		}
	}
	for _, a := range u.SAMLAccounts {
		if a != nil {
			out = append(out, externalAccountEntry{a.ID, a.Provider, a.EmailAddress, "", deref(a.ProviderUserID), isVerified(a.Verification)})
		}
	}
	for _, a := range u.EnterpriseAccounts {
		// Clerk lists a SAML account under both names.
		if a != nil && !slices.ContainsFunc(out, func(e externalAccountEntry) bool {
			return e.Provider == a.Provider && e.ProviderUserID == deref(a.ProviderUserID) && e.EmailAddress == a.EmailAddress
		}) {
			out = append(out, externalAccountEntry{a.ID, a.Provider, a.EmailAddress, "", deref(a.ProviderUserID), isVerified(a.Verification)})
		}
	}
	return jsonList(out)
}

func isVerified(v *clerk.Verification) bool {
	return v != nil && v.Status == "verified"
}

// jsonList encodes a list; these entry types always encode.
func jsonList[T any](list []T) types.JSONRaw {
	b, _ := json.Marshal(list)
	return types.JSONRaw(b)
}
