package loadgen

import (
	"encoding/json"
	"fmt"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
)

// FakeBackendAPI is the tests' Backend API stand-in (hooks/clerkfake)
// holding users, in the order given, behind key, with no organizations.
// Point CLERK_API_URL at it.
func FakeBackendAPI(t *Template, key string, users []User) (*clerkfake.BackendAPI, error) {
	api := clerkfake.New(key)
	for _, u := range users {
		raw, err := json.Marshal(t.UserData(u))
		if err != nil {
			return nil, err
		}
		user, err := clerkfake.UserFromWebhook(raw)
		if err != nil {
			return nil, fmt.Errorf("user %s: %w", u.ID, err)
		}
		api.Users = append(api.Users, user)
	}
	return api, nil
}
