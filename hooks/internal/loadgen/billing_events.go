package loadgen

import (
	"encoding/json"
	"fmt"
	"maps"
)

// ItemTemplate turns ids into Clerk subscription item webhook bodies,
// shaped by Clerk's example: the item carries its plan, without features,
// and its payer.
type ItemTemplate struct {
	env map[string]any
}

// NewItemTemplate parses a subscriptionItem.* fixture.
func NewItemTemplate(fixture []byte) (*ItemTemplate, error) {
	t := &ItemTemplate{}
	if err := json.Unmarshal(fixture, &t.env); err != nil {
		return nil, fmt.Errorf("the fixture is not JSON: %w", err)
	}
	data, ok := t.env["data"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the fixture has no data object")
	}
	if _, ok := data["payer"].(map[string]any); !ok {
		return nil, fmt.Errorf("the fixture's item has no payer")
	}
	return t, nil
}

// ItemBody is a subscription item event of type typ for item id, paid for
// by user userID, with status, updated at (Unix milliseconds).
func (t *ItemTemplate) ItemBody(typ, id, userID, status string, at int64) []byte {
	env := maps.Clone(t.env)
	env["type"], env["timestamp"] = typ, at
	data := maps.Clone(t.env["data"].(map[string]any))
	data["id"], data["status"], data["updated_at"] = id, status, at
	payer := maps.Clone(data["payer"].(map[string]any))
	payer["user_id"], payer["organization_id"] = userID, ""
	data["payer"] = payer
	env["data"] = data
	b, _ := json.Marshal(env)
	return b
}
