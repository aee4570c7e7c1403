package loadgen

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// FakeBackendAPI serves the read side of Clerk's Backend API that a sync
// pages through: GET /v1/users (limit, offset; in the order given) and
// GET /v1/users/count, and empty lists of organizations and memberships.
// Point CLERK_API_URL at it.
func FakeBackendAPI(t *Template, users []User) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/users", func(w http.ResponseWriter, r *http.Request) {
		limit, offset := atoiOr(r.URL.Query().Get("limit"), 10), atoiOr(r.URL.Query().Get("offset"), 0)
		page := []map[string]any{}
		for i := offset; i < len(users) && i < offset+limit; i++ {
			page = append(page, t.UserData(users[i]))
		}
		writeJSON(w, page)
	})
	mux.HandleFunc("GET /v1/users/count", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"object": "total_count", "total_count": len(users)})
	})
	empty := func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"data": []any{}, "total_count": 0})
	}
	mux.HandleFunc("GET /v1/organizations", empty)
	mux.HandleFunc("GET /v1/organization_memberships", empty)
	return mux
}

func atoiOr(s string, fallback int) int {
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return n
	}
	return fallback
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
