package hooks

import (
	"fmt"

	"github.com/ganigeorgiev/fexpr"
	"github.com/pocketbase/pocketbase/tools/search"
)

// ruleNumberFunction reads a header as a number in rules:
// clerkNumber(@request.headers.x_clerk_factor_age) <= 10. PocketBase binds
// every header as text, and SQLite orders any text after any number, so
// `@request.headers.x_clerk_factor_age <= 10` is false whatever the age.
// A header that is absent or not a whole number reads as NULL, which no
// comparison passes.
const ruleNumberFunction = "clerkNumber"

// Registered once for the process, before any rule is built: PocketBase
// reads the map without a lock.
func init() {
	search.TokenFunctions[ruleNumberFunction] = func(resolve func(fexpr.Token) (*search.ResolverResult, error), args ...fexpr.Token) (*search.ResolverResult, error) {
		if len(args) != 1 || args[0].Type != fexpr.TokenIdentifier {
			return nil, fmt.Errorf("[%s] expects one argument, a header such as @request.headers.x_clerk_factor_age", ruleNumberFunction)
		}
		r, err := resolve(args[0])
		if err != nil {
			return nil, fmt.Errorf("[%s] %w", ruleNumberFunction, err)
		}
		if r.MultiMatchSubQuery != nil {
			return nil, fmt.Errorf("[%s] expects a single value, such as a header, not %s", ruleNumberFunction, args[0].Literal)
		}
		id := r.Identifier
		return &search.ResolverResult{
			NullFallback: search.NullFallbackDisabled,
			Identifier:   "(CASE WHEN " + id + " GLOB '[0-9]*' AND " + id + " NOT GLOB '*[^0-9]*' OR " + id + " GLOB '-[0-9]*' AND substr(" + id + ", 2) NOT GLOB '*[^0-9]*' THEN CAST(" + id + " AS INTEGER) END)",
			Params:       r.Params,
		}, nil
	}
}
