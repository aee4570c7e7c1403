package migrations

import (
	"slices"

	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

func init() {
	m.Register(keepWholeClerkUser, dropWholeClerkUser)
}

// wholeUserFields are the fields this migration adds to clients.
func wholeUserFields() []core.Field {
	return []core.Field{
		&core.JSONField{Name: FieldUnsafeMetadata, Help: clerkFieldHelp},
		&core.JSONField{Name: FieldEmailAddresses, Help: clerkFieldHelp + ". Each: id, emailAddress, verified, primary"},
		&core.JSONField{Name: FieldPhoneNumbers, Help: clerkFieldHelp + ". Each: id, phoneNumber, verified, primary"},
		&core.JSONField{Name: FieldExternalAccounts, Help: clerkFieldHelp + ". OAuth, SAML and enterprise accounts: provider, emailAddress, username, providerUserId"},
		&core.JSONField{Name: FieldWeb3Wallets, Help: clerkFieldHelp + ". Each: id, web3Wallet, verified, primary"},
		&core.BoolField{Name: FieldTwoFactorEnabled, Help: clerkFieldHelp},
		&core.BoolField{Name: FieldLocked, Help: clerkFieldHelp},
		&core.BoolField{Name: FieldPasswordEnabled, Help: clerkFieldHelp},
		&core.DateField{Name: FieldLastActiveAt, Help: clerkFieldHelp},
		&core.DateField{Name: FieldLegalAcceptedAt, Help: clerkFieldHelp},
		&core.DateField{Name: FieldDeletedAt, Help: clerkFieldHelp + ". Set when the user was deleted in Clerk and this record was kept, anonymized"},
		&core.JSONField{Name: FieldClerkUser, Hidden: true, Help: clerkFieldHelp + ". The last applied Clerk user, exactly as Clerk sent it"},
	}
}

// personFirst is the order in which the dashboard lists a client's fields:
// who the person is before how they are synced.
var personFirst = []string{
	"id", FieldFirstName, FieldLastName, FieldUsername, "email", FieldPhone, FieldImageURL,
	"verified", FieldBanned, FieldLocked, FieldDeletedAt,
}

func keepWholeClerkUser(app core.App) error {
	c, err := app.FindCollectionByNameOrId(ClientsCollection)
	if err != nil {
		return err
	}
	c.Fields.Add(wholeUserFields()...)

	ordered := make(core.FieldsList, 0, len(c.Fields))
	for _, name := range personFirst {
		ordered = append(ordered, c.Fields.GetByName(name))
	}
	for _, f := range c.Fields {
		if !slices.Contains(personFirst, f.GetName()) {
			ordered = append(ordered, f)
		}
	}
	c.Fields = ordered

	// Relation pickers show a person, not a user_... id.
	setPresentable(c, FieldClerkID, false)
	for _, name := range []string{FieldFirstName, FieldLastName, "email"} {
		setPresentable(c, name, true)
	}
	// Sign-in happens in Clerk: PocketBase never sees a new login to alert about.
	c.AuthAlert.Enabled = false
	return app.Save(c)
}

func dropWholeClerkUser(app core.App) error {
	c, err := app.FindCollectionByNameOrId(ClientsCollection)
	if err != nil {
		return err
	}
	for _, f := range wholeUserFields() {
		c.Fields.RemoveByName(f.GetName())
	}
	for _, name := range []string{FieldFirstName, FieldLastName, "email"} {
		setPresentable(c, name, false)
	}
	setPresentable(c, FieldClerkID, true)
	c.AuthAlert.Enabled = true
	return app.Save(c)
}

func setPresentable(c *core.Collection, name string, presentable bool) {
	switch f := c.Fields.GetByName(name).(type) {
	case *core.TextField:
		f.Presentable = presentable
	case *core.EmailField:
		f.Presentable = presentable
	}
}
