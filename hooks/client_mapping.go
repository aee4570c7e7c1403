package hooks

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// Clerk's user event types.
const (
	eventUserCreated = "user.created"
	eventUserUpdated = "user.updated"
	eventUserDeleted = "user.deleted"
)

// outcome is what applying one change did; it is stored in the delivery log.
type outcome string

const (
	outcomeCreated    outcome = migrations.OutcomeCreated
	outcomeUpdated    outcome = migrations.OutcomeUpdated
	outcomeDeleted    outcome = migrations.OutcomeDeleted
	outcomeAnonymized outcome = migrations.OutcomeAnonymized
	outcomeUnchanged  outcome = migrations.OutcomeUnchanged
	outcomeStale      outcome = migrations.OutcomeStale
	outcomeGone       outcome = migrations.OutcomeGone
	outcomeIgnored    outcome = migrations.OutcomeIgnored
)

// lockedPasswordHash fills the password that every auth record must have.
// Clerk owns sign-in and password auth is off, and no password ever matches
// this value (it is not a valid bcrypt hash), so nothing pays bcrypt's cost
// per client.
const lockedPasswordHash = "!clerk-managed: password sign-in is not used"

// userChange is one change to a Clerk user, whatever brought it: a webhook,
// a first-sight fetch or a backfill.
type userChange struct {
	// Type is user.created, user.updated or user.deleted.
	Type string
	// User is the user as Clerk sent it; a deletion carries only its ID.
	User *clerk.User
	// UserJSON is User exactly as Clerk's JSON had it, kept in clerkUser;
	// nil: User encoded again.
	UserJSON json.RawMessage
	// At is when Clerk emitted the change (the envelope timestamp): it
	// dates a deletion. Zero: when it is applied.
	At time.Time
}

// userObject is the Clerk user, kept as a client.
var userObject = clerkObject{
	events: []string{eventUserCreated, eventUserUpdated, eventUserDeleted},
	decode: decodeUserChange,
	owned: &clerkOwned{migrations.ClientsCollection, migrations.ClerkFields,
		"Clients are created by the sync from Clerk's users: create the user in Clerk.",
		func(changed []string) string {
			if len(changed) > 1 {
				return "The fields " + strings.Join(changed, ", ") + " are synced from Clerk and cannot be changed here: change them in Clerk."
			}
			return "The field " + changed[0] + " is synced from Clerk and cannot be changed here: change it in Clerk."
		}},
}

func decodeUserChange(eventType string, at time.Time, data json.RawMessage) (change, error) {
	u, err := decodeData(data, "user", func(u *clerk.User) string { return u.ID })
	if err != nil {
		return nil, err
	}
	return userChange{Type: eventType, User: u, UserJSON: data, At: at}, nil
}

func (ch userChange) clerkID() string { return ch.User.ID }

// errEmailHeld means that another client holds the email and is newer: the
// change cannot be applied yet, and a retry will find it applied or stale.
var errEmailHeld = errors.New("the primary email belongs to another client with newer Clerk data; this change applies once that client's own update has arrived")

// apply is the one place that decides how a Clerk user becomes a client.
// Call it with a transaction's app: it reads and writes several records
// that must change together.
//
// Deletion wins: a deleted user is tombstoned and never comes back. Otherwise
// the newest updated_at wins, and equal timestamps apply (Clerk may send the
// same state twice). Only the fields that the sync owns are written.
func (ch userChange) apply(txApp core.App, config mappingConfig) (outcome, error) {
	id := ch.User.ID
	record, gone, err := findMirror(txApp, migrations.ClientsCollection, id)
	if err != nil || gone {
		return outcomeGone, err
	}
	client := asClient(record)

	if ch.Type == eventUserDeleted {
		if err := deleteMembershipsOfUser(txApp, id); err != nil {
			return "", err
		}
		if err := deletePayerRecords(txApp, id); err != nil {
			return "", err
		}
		return deleteClient(txApp, client, id, deletedAt(ch.At), config)
	}

	if client == nil {
		col, err := txApp.FindCachedCollectionByNameOrId(migrations.ClientsCollection)
		if err != nil {
			return "", err
		}
		client = &clientRecord{core.NewRecord(col)}
		client.SetRaw(core.FieldNamePassword, &core.PasswordFieldValue{Hash: lockedPasswordHash})
	} else if ch.User.UpdatedAt < client.ClerkUpdatedAt().UnixMilli() {
		return outcomeStale, nil
	}

	// clerkUser alone does not make a change: the same user may come
	// encoded differently by the webhook and the Backend API. It is written
	// with every change, and once for a client that has none yet (a
	// migration that maps a new field clears it, so that the sync fills
	// the field even where Clerk's updated_at has not moved).
	changed := setClientFields(client, ch.User)
	stored := client.GetString(migrations.FieldClerkUser)
	if !changed && stored != "" {
		return outcomeUnchanged, nil
	}
	userJSON := clerkUserJSON(ch)
	if !client.IsNew() && stored == string(userJSON) {
		// The user last applied, byte for byte: what differs is a value
		// that PocketBase refused then (see saveStorableFields).
		return outcomeUnchanged, nil
	}
	client.Set(migrations.FieldClerkUser, userJSON)
	result := outcomeUpdated
	if client.IsNew() {
		result = outcomeCreated
	}
	if err := saveClient(txApp, client); err != nil {
		return "", err
	}
	if result == outcomeCreated {
		if err := linkMemberships(txApp, client); err != nil {
			return "", err
		}
		if err := linkPayerRecords(txApp, client.ClerkID(), client.Id); err != nil {
			return "", err
		}
	}
	return result, nil
}

// saveClient saves through PocketBase's record API, so realtime and the app
// owner's record hooks see every change. When Clerk moved an email from one
// user to another and the second user's event arrives first, the first
// user's record still holds the address: the newer data takes it. A value
// that PocketBase refuses is left out, so that the user still syncs.
func saveClient(txApp core.App, client *clientRecord) error {
	err := txApp.SaveWithContext(leanSaveContext(client.Record), client.Record)
	if err == nil {
		return nil
	}
	if holder, findErr := emailHolder(txApp, client); findErr != nil {
		return err
	} else if holder != nil {
		return takeEmail(txApp, client, holder)
	}
	return saveStorableFields(txApp, client, err)
}

// emailHolder is the other client that holds client's email, if any.
func emailHolder(txApp core.App, client *clientRecord) (*clientRecord, error) {
	if client.Email() == "" {
		return nil, nil
	}
	// Looked up as PocketBase's unique email index compares (it may ignore case).
	found, err := txApp.FindAuthRecordByEmail(migrations.ClientsCollection, client.Email())
	if errors.Is(err, sql.ErrNoRows) || (err == nil && found.Id == client.Id) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &clientRecord{found}, nil
}

func takeEmail(txApp core.App, client, holder *clientRecord) error {
	if holder.ClerkUpdatedAt().After(client.ClerkUpdatedAt()) {
		// Named by ids: an error is kept and logged, an address must not be.
		return fmt.Errorf("%w (client %s, Clerk user %s)", errEmailHeld, holder.Id, holder.ClerkID())
	}
	holder.SetEmail("")
	holder.SetVerified(false)
	if err := txApp.SaveWithContext(leanSaveContext(holder.Record), holder.Record); err != nil {
		return fmt.Errorf("releasing email from client %s: %w", holder.ClerkID(), err)
	}
	return txApp.SaveWithContext(leanSaveContext(client.Record), client.Record)
}

// saveStorableFields saves client without the Clerk fields that PocketBase
// refused (an email its validator rejects, a value over a field's limit):
// refusing the whole user would fail its every delivery for good. Clerk's
// value stays in clerkUser (and an email in emailAddresses). A refused
// field of the owner's is left to fail: only the owner can fix it.
func saveStorableFields(txApp core.App, client *clientRecord, saveErr error) error {
	var invalid validation.Errors
	if !errors.As(saveErr, &invalid) || len(invalid) == 0 {
		return saveErr
	}
	for name := range invalid {
		if name == migrations.FieldClerkID || !slices.Contains(migrations.ClerkFields, name) {
			return saveErr
		}
	}
	for name, fieldErr := range invalid {
		txApp.Logger().Warn("A Clerk user's field was not stored: PocketBase refuses its value. The user is synced without it, and Clerk's value is kept in clerkUser; correct it in Clerk to bring it here.",
			"clerkId", client.ClerkID(), "field", name, "error", fieldErr.Error())
		client.Set(name, nil)
		if name == core.FieldNameEmail {
			client.SetVerified(false)
		}
	}
	return txApp.SaveWithContext(leanSaveContext(client.Record), client.Record)
}

// setClientFields maps a Clerk user onto the fields the sync owns and
// reports whether any of them changed.
func setClientFields(client *clientRecord, u *clerk.User) bool {
	email, verified := primaryEmail(u)
	return setFields(client.Record, map[string]any{
		migrations.FieldClerkID:         u.ID,
		core.FieldNameEmail:             email,
		core.FieldNameVerified:          verified,
		migrations.FieldPhone:           primaryPhone(u),
		migrations.FieldFirstName:       deref(u.FirstName),
		migrations.FieldLastName:        deref(u.LastName),
		migrations.FieldUsername:        deref(u.Username),
		migrations.FieldImageURL:        deref(u.ImageURL),
		migrations.FieldPublicMetadata:  jsonOrEmpty(u.PublicMetadata),
		migrations.FieldPrivateMetadata: jsonOrEmpty(u.PrivateMetadata),
		migrations.FieldExternalID:      deref(u.ExternalID),
		migrations.FieldBanned:          u.Banned,
		migrations.FieldLastSignInAt:    millis(u.LastSignInAt),
		migrations.FieldClerkCreatedAt:  millis(&u.CreatedAt),
		migrations.FieldClerkUpdatedAt:  millis(&u.UpdatedAt),

		migrations.FieldUnsafeMetadata:   jsonOrEmpty(u.UnsafeMetadata),
		migrations.FieldEmailAddresses:   emailAddressList(u),
		migrations.FieldPhoneNumbers:     phoneNumberList(u),
		migrations.FieldExternalAccounts: externalAccountList(u),
		migrations.FieldWeb3Wallets:      web3WalletList(u),
		migrations.FieldTwoFactorEnabled: u.TwoFactorEnabled,
		migrations.FieldLocked:           u.Locked,
		migrations.FieldPasswordEnabled:  u.PasswordEnabled,
		migrations.FieldLastActiveAt:     millis(u.LastActiveAt),
		migrations.FieldLegalAcceptedAt:  millis(u.LegalAcceptedAt),
	})
}

// primaryEmail is the address whose id is primary_email_address_id, which
// need not be the first entry.
func primaryEmail(u *clerk.User) (string, bool) {
	if u.PrimaryEmailAddressID == nil {
		return "", false
	}
	for _, e := range u.EmailAddresses {
		if e != nil && e.ID == *u.PrimaryEmailAddressID {
			return e.EmailAddress, e.Verification != nil && e.Verification.Status == "verified"
		}
	}
	return "", false
}

// clerkUserJSON is the user as Clerk sent it, compacted; a user that came
// without its JSON is encoded again.
func clerkUserJSON(ch userChange) types.JSONRaw {
	raw := ch.UserJSON
	if len(raw) == 0 {
		raw, _ = json.Marshal(ch.User)
	}
	return jsonOrEmpty(raw)
}

func primaryPhone(u *clerk.User) string {
	if u.PrimaryPhoneNumberID == nil {
		return ""
	}
	for _, p := range u.PhoneNumbers {
		if p != nil && p.ID == *u.PrimaryPhoneNumberID {
			return p.PhoneNumber
		}
	}
	return ""
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// PocketBase stores dates from year 1 to 9999: one outside would read back
// empty, so millis leaves it empty from the start.
const (
	minMillis = -62135596800000 // 0001-01-01T00:00:00.000Z
	maxMillis = 253402300799999 // 9999-12-31T23:59:59.999Z
)

// millis turns Clerk's Unix milliseconds into a date; nil, zero and dates
// PocketBase cannot store stay empty.
func millis(ms *int64) types.DateTime {
	if ms == nil || *ms == 0 || *ms < minMillis || *ms > maxMillis {
		return types.DateTime{}
	}
	dt, _ := types.ParseDateTime(time.UnixMilli(*ms))
	return dt
}

// jsonOrEmpty keeps metadata compact so that the same object from a webhook
// and from the Backend API compares equal; null becomes {}.
func jsonOrEmpty(raw json.RawMessage) types.JSONRaw {
	var buf bytes.Buffer
	if len(raw) == 0 || string(raw) == "null" || json.Compact(&buf, raw) != nil {
		return types.JSONRaw("{}")
	}
	return types.JSONRaw(buf.Bytes())
}
