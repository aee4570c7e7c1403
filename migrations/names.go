package migrations

// The names of the collections and fields these migrations create. The hooks
// package reads and writes them by these constants, so a rename or a new
// outcome cannot reach one side only.

// Collection names.
const (
	ClientsCollection        = "clients"
	EventsCollection         = "clerk_events"
	TombstonesCollection     = "clerk_tombstones"
	OrganizationsCollection  = "organizations"
	MembershipsCollection    = "memberships"
	ClientProfilesCollection = "client_profiles" // view: the public part of clients
)

// Fields of clients that the sync writes, besides PocketBase's own auth
// fields (email, verified, password, tokenKey, emailVisibility).
const (
	FieldClerkID         = "clerkId"
	FieldPhone           = "phone"
	FieldFirstName       = "firstName"
	FieldLastName        = "lastName"
	FieldUsername        = "username"
	FieldImageURL        = "imageUrl"
	FieldPublicMetadata  = "publicMetadata"
	FieldPrivateMetadata = "privateMetadata"
	FieldExternalID      = "externalId"
	FieldBanned          = "banned"
	FieldLastSignInAt    = "lastSignInAt"
	FieldClerkCreatedAt  = "clerkCreatedAt"
	FieldClerkUpdatedAt  = "clerkUpdatedAt"

	FieldUnsafeMetadata   = "unsafeMetadata"
	FieldEmailAddresses   = "emailAddresses"
	FieldPhoneNumbers     = "phoneNumbers"
	FieldExternalAccounts = "externalAccounts"
	FieldWeb3Wallets      = "web3Wallets"
	FieldTwoFactorEnabled = "twoFactorEnabled"
	FieldLocked           = "locked"
	FieldPasswordEnabled  = "passwordEnabled"
	FieldLastActiveAt     = "lastActiveAt"
	FieldLegalAcceptedAt  = "legalAcceptedAt"
	// FieldClerkUser is the last applied Clerk user object as Clerk sent it.
	FieldClerkUser = "clerkUser"
	// FieldDeletedAt (also on clerk_tombstones) dates an anonymized client's deletion in Clerk.
	FieldDeletedAt = "deletedAt"
)

// ClerkFields are the fields of clients that only the sync may change,
// PocketBase's auth fields included: a request that changes one is refused.
var ClerkFields = []string{
	FieldClerkID, "email", "emailVisibility", "verified", "password", "tokenKey",
	FieldFirstName, FieldLastName, FieldUsername, FieldPhone, FieldImageURL,
	FieldEmailAddresses, FieldPhoneNumbers, FieldExternalAccounts, FieldWeb3Wallets,
	FieldPublicMetadata, FieldUnsafeMetadata, FieldPrivateMetadata, FieldExternalID,
	FieldBanned, FieldLocked, FieldTwoFactorEnabled, FieldPasswordEnabled,
	FieldLastSignInAt, FieldLastActiveAt, FieldLegalAcceptedAt,
	FieldClerkCreatedAt, FieldClerkUpdatedAt, FieldDeletedAt, FieldClerkUser,
}

// Fields of organizations and memberships that the sync writes, besides
// clerkId, imageUrl, publicMetadata, privateMetadata, clerkCreatedAt and
// clerkUpdatedAt as on clients.
const (
	FieldName                  = "name"
	FieldSlug                  = "slug"
	FieldMaxAllowedMemberships = "maxAllowedMemberships"
	FieldAdminDeleteEnabled    = "adminDeleteEnabled"
	FieldCreatedBy             = "createdBy"

	FieldOrganization        = "organization" // relation to organizations
	FieldClient              = "client"       // relation to clients; empty while the user has none
	FieldClerkOrganizationID = "clerkOrganizationId"
	FieldClerkUserID         = "clerkUserId"
	FieldRole                = "role"
	FieldRoleName            = "roleName"
	FieldPermissions         = "permissions"
)

// OrganizationClerkFields and MembershipClerkFields are the fields of
// organizations and memberships that only the sync may change.
var (
	OrganizationClerkFields = []string{
		FieldClerkID, FieldName, FieldSlug, FieldImageURL, FieldMaxAllowedMemberships, FieldAdminDeleteEnabled,
		FieldPublicMetadata, FieldPrivateMetadata, FieldCreatedBy, FieldClerkCreatedAt, FieldClerkUpdatedAt, FieldDeletedAt,
	}
	MembershipClerkFields = []string{
		FieldClerkID, FieldOrganization, FieldClient, FieldClerkOrganizationID, FieldClerkUserID, FieldRole,
		FieldRoleName, FieldPermissions, FieldPublicMetadata, FieldPrivateMetadata, FieldClerkCreatedAt, FieldClerkUpdatedAt,
	}
)

// Fields of clerk_events and clerk_tombstones (clerkId and deletedAt as above).
const (
	FieldSvixID  = "svixId"
	FieldType    = "type"
	FieldOutcome = "outcome"
	FieldEventAt = "eventAt"
)

// Outcomes are what applying one change did, as clerk_events stores them.
const (
	OutcomeCreated    = "created"    // a new record
	OutcomeUpdated    = "updated"    // an existing record changed
	OutcomeDeleted    = "deleted"    // the record was removed and tombstoned
	OutcomeAnonymized = "anonymized" // the record was kept without Clerk's data, and tombstoned
	OutcomeUnchanged  = "unchanged"  // already up to date
	OutcomeStale      = "stale"      // older than what is stored
	OutcomeGone       = "gone"       // deleted before
	OutcomeIgnored    = "ignored"    // not an event this app applies
	OutcomeSignedOut  = "signedOut"  // a session ended: its realtime connections were signed out
)

// Outcomes lists every outcome the delivery log accepts.
var Outcomes = []string{
	OutcomeCreated, OutcomeUpdated, OutcomeDeleted, OutcomeUnchanged,
	OutcomeStale, OutcomeGone, OutcomeIgnored, OutcomeAnonymized, OutcomeSignedOut,
}

// Collections of the sync's health, read by the dashboard's Clerk page:
// refused and failed deliveries (which clerk_events, whose rows mean
// "applied", never holds) and the runs of "clerk sync".
const (
	DeliveryFailureHoursCollection = "clerk_failure_hours"
	DeliveryFailuresCollection     = "clerk_failures"
	SyncRunsCollection             = "clerk_sync_runs"
)

// Fields of clerk_failure_hours (one row per hour and answer status) and
// clerk_failures (one row per status and reason, the newest kept).
const (
	FieldHour    = "hour"
	FieldStatus  = "status"
	FieldCount   = "count"
	FieldReason  = "reason"
	FieldFirstAt = "firstAt"
	FieldLastAt  = "lastAt"
)

// Fields of clerk_sync_runs (one row per run of "clerk sync").
const (
	FieldTrigger    = "trigger"
	FieldPrune      = "prune"
	FieldDryRun     = "dryRun"
	FieldStartedAt  = "startedAt"
	FieldFinishedAt = "finishedAt"
	FieldCounts     = "counts"
	FieldPruned     = "pruned"
	FieldError      = "error"
)

// Triggers say who started a run of "clerk sync".
const (
	TriggerCommand   = "command"   // "clerk sync" on the command line
	TriggerSchedule  = "schedule"  // CLERK_SYNC_SCHEDULE
	TriggerDashboard = "dashboard" // the dashboard's Clerk page
)

// Triggers lists every trigger a sync run may have.
var Triggers = []string{TriggerCommand, TriggerSchedule, TriggerDashboard}

// EndedSessionsCollection keeps the Clerk sessions that ended (signed out,
// revoked, removed) while a token issued before the end may still be alive:
// their tokens are refused, across restarts.
const EndedSessionsCollection = "clerk_ended_sessions"

// Fields of clerk_ended_sessions.
const (
	FieldSessionID    = "sessionId"
	FieldRefusedUntil = "refusedUntil"
)

// Collections of Clerk Billing: the plans (the public pricing table), the
// subscription items and payment attempts of users and organizations, and
// the entitlements view, one row per payer and feature granted now.
const (
	BillingPlansCollection      = "billing_plans"
	SubscriptionItemsCollection = "subscription_items"
	PaymentAttemptsCollection   = "payment_attempts"
	EntitlementsCollection      = "entitlements" // view
)

// Fields of the billing collections, besides clerkId, name, slug, client,
// organization, clerkCreatedAt and clerkUpdatedAt as above.
const (
	FieldForPayerType        = "forPayerType" // user or org
	FieldFeatures            = "features"     // JSON list of feature slugs
	FieldIsDefault           = "isDefault"
	FieldIsRecurring         = "isRecurring"
	FieldPubliclyVisible     = "publiclyVisible"
	FieldAmount              = "amount" // in the currency's smallest unit
	FieldCurrency            = "currency"
	FieldClerkPayerID        = "clerkPayerId" // user_... or org_...
	FieldPlan                = "plan"         // relation to billing_plans
	FieldPlanSlug            = "planSlug"
	FieldPeriodStart         = "periodStart"
	FieldPeriodEnd           = "periodEnd"
	FieldIsFreeTrial         = "isFreeTrial"
	FieldInterval            = "interval"
	FieldClerkSubscriptionID = "clerkSubscriptionId"
	FieldChargeType          = "chargeType"
	FieldTotals              = "totals"
	FieldFailedReason        = "failedReason"
	FieldPaidAt              = "paidAt"
	FieldFeature             = "feature" // entitlements
	FieldUntil               = "until"   // entitlements: the end of a canceled item's period
)

// Clerk's statuses of a subscription item.
const (
	ItemActive     = "active"
	ItemCanceled   = "canceled"
	ItemEnded      = "ended"
	ItemPastDue    = "past_due"
	ItemUpcoming   = "upcoming"
	ItemIncomplete = "incomplete"
	ItemAbandoned  = "abandoned"
)

// BillingPlanClerkFields, SubscriptionItemClerkFields and
// PaymentAttemptClerkFields are the fields of the billing collections that
// only the sync may change.
var (
	BillingPlanClerkFields = []string{
		FieldClerkID, FieldSlug, FieldName, FieldForPayerType, FieldFeatures, FieldIsDefault, FieldIsRecurring, FieldPubliclyVisible,
		FieldAmount, FieldCurrency, FieldClerkCreatedAt, FieldClerkUpdatedAt,
	}
	SubscriptionItemClerkFields = []string{
		FieldClerkID, FieldClient, FieldOrganization, FieldClerkPayerID, FieldPlan, FieldPlanSlug, FieldStatus,
		FieldPeriodStart, FieldPeriodEnd, FieldIsFreeTrial, FieldInterval, FieldClerkSubscriptionID,
		FieldClerkCreatedAt, FieldClerkUpdatedAt,
	}
	PaymentAttemptClerkFields = []string{
		FieldClerkID, FieldClient, FieldOrganization, FieldClerkPayerID, FieldStatus, FieldChargeType, FieldTotals,
		FieldFailedReason, FieldPaidAt, FieldClerkCreatedAt, FieldClerkUpdatedAt,
	}
)
