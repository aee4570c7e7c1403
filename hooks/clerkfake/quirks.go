package clerkfake

// What Clerk's Backend API does that its OpenAPI spec (bapi/2026-05-12.yml)
// does not say, each with where it was seen. The fake does each of these,
// and tests of "clerk sync" and first sight meet each (hooks/clerk_quirks_test.go,
// hooks/org_not_enabled_test.go; the default page size in every sync of more
// than 10 objects, which would stop after the first page if a request left
// its limit out).
//
//   - organizationsDisabled: an instance without the organizations feature
//     (the default for a new instance) answers every organization endpoint
//     403 with the code organization_not_enabled_in_instance
//     (github.com/mastra-ai/mastra/issues/9162: "access denied", "The
//     organizations feature is not enabled for this instance. You can
//     enable it at https://dashboard.clerk.com.").
//   - billingDisabled: an instance without Clerk Billing. Neither the spec
//     nor Clerk's SDKs (clerk/javascript, clerk-sdk-go) name the answer;
//     the stand-in answers 403 with the code billing_not_enabled, in the
//     shape of organizationsDisabled, and "clerk sync" takes any 403 or 404
//     to a billing listing whose code names billing or commerce as this.
//   - keyInvalid: a wrong secret key is answered 401 clerk_key_invalid
//     (github.com/clerk/clerk-sdk-python/issues/26).
//   - rateLimited: over the rate limit, Clerk answers 429 with Retry-After in
//     seconds (clerk.com/docs/backend-requests/resources/rate-limits).
//   - unknownUserIDs: a user_id filter that names users who do not exist
//     lists the others and ignores the unknown ones, without an error.
//   - defaultPageSize: without limit, a list holds 10 items (the spec's
//     default, which Clerk applies to every list).
//   - emptyInstance: an instance with organizations but no memberships
//     lists {"data": [], "total_count": 0}, never null.

// Error envelopes as Clerk writes them.
var (
	errOrganizationsDisabled = apiError{
		Status:      403,
		Code:        "organization_not_enabled_in_instance",
		Message:     "access denied",
		LongMessage: "The organizations feature is not enabled for this instance. You can enable it at https://dashboard.clerk.com.",
	}
	errBillingDisabled = apiError{
		Status:      403,
		Code:        "billing_not_enabled",
		Message:     "access denied",
		LongMessage: "Billing is not enabled for this instance. You can enable it at https://dashboard.clerk.com.",
	}
	errKeyInvalid = apiError{
		Status:      401,
		Code:        "clerk_key_invalid",
		Message:     "The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct.",
		LongMessage: "The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct.",
	}
	errRateLimited = apiError{
		Status:      429,
		Code:        "too_many_requests",
		Message:     "Too many requests",
		LongMessage: "Too many requests, retry later",
	}
	errNotFound = apiError{
		Status:      404,
		Code:        "resource_not_found",
		Message:     "not found",
		LongMessage: "Resource not found",
	}
	errServer = apiError{
		Status:      500,
		Code:        "internal_clerk_error",
		Message:     "Oops, an unexpected error occurred",
		LongMessage: "There was an internal error on our servers. We've been notified and are working on fixing it.",
	}
)

// defaultPageSize is the length of a list asked for without limit.
const defaultPageSize = 10
