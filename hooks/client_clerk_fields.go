package hooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/router"
)

// clerkOwned is a collection whose Clerk fields only the sync writes, with
// the answers to a request that would change one of them.
type clerkOwned struct {
	collection string
	fields     []string
	// created answers a create request; updated, an update request.
	created string
	updated func(changed []string) string
}

// bindClerkOwnedFields refuses every API request (record create and update,
// the batch API, the dashboard) that would change a field the sync writes,
// whoever sends it and whatever the collection's rules: such a change would
// be undone by the next event from Clerk, or, for clerkUpdatedAt and
// clerkId, would stop the sync from reaching the object at all. Fields the
// app's owner adds stay governed by the owner's rules. The sync itself saves
// through the record API, without a request, and is not affected.
func bindClerkOwnedFields(app core.App) {
	for _, object := range clerkObjects {
		owned := object.owned
		if owned == nil {
			continue
		}
		app.OnRecordCreateRequest(owned.collection).BindFunc(func(e *core.RecordRequestEvent) error {
			if changed := changedFields(e.Record, owned.fields); len(changed) > 0 {
				return clerkOwnedError(owned.created, changed)
			}
			return e.Next()
		})
		app.OnRecordUpdateRequest(owned.collection).BindFunc(func(e *core.RecordRequestEvent) error {
			if changed := changedFields(e.Record, owned.fields); len(changed) > 0 {
				return clerkOwnedError(owned.updated(changed), changed)
			}
			return e.Next()
		})
	}
}

func clerkOwnedError(message string, fields []string) error {
	errs := validation.Errors{}
	for _, name := range fields {
		errs[name] = validation.NewError("validation_clerk_owned", "Synced from Clerk: change it in Clerk.")
	}
	return router.NewBadRequestError(message, errs)
}

// changedFields lists the fields whose submitted value differs from the
// stored one. A form that sends the whole record (as the dashboard's does)
// changes nothing by sending a field as it is.
func changedFields(record *core.Record, fields []string) []string {
	original := record.Original()
	var changed []string
	for _, name := range fields {
		field := record.Collection().Fields.GetByName(name)
		if field != nil && !sameFieldValue(field, record.GetRaw(name), original.GetRaw(name)) {
			changed = append(changed, name)
		}
	}
	return changed
}

func sameFieldValue(field core.Field, a, b any) bool {
	switch field.(type) {
	case *core.PasswordField:
		pa, _ := a.(*core.PasswordFieldValue)
		pb, _ := b.(*core.PasswordFieldValue)
		if pa == nil || pb == nil {
			return pa == pb
		}
		return pa.Plain == "" && pa.Hash == pb.Hash
	case *core.JSONField:
		// The same JSON, however it is spaced; null and nothing alike.
		// Numbers compare by exact value: as float64, a rounded 2^60 would
		// pass for Clerk's.
		return reflect.DeepEqual(decodeJSON(a), decodeJSON(b))
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func decodeJSON(v any) any {
	var raw []byte
	switch v := v.(type) {
	case nil:
		return nil
	case []byte:
		raw = v
	case string:
		raw = []byte(v)
	default:
		if s, ok := v.(fmt.Stringer); ok {
			raw = []byte(s.String())
		} else {
			raw, _ = json.Marshal(v)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out any
	if dec.Decode(&out) != nil || dec.More() {
		return string(raw)
	}
	return exactNumbers(out)
}

// exactNumber is a JSON number written one way for each value.
type exactNumber string

// exactNumbers replaces the numbers in a decoded JSON value with their
// exact forms.
func exactNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		return canonicalNumber(string(v))
	case []any:
		for i := range v {
			v[i] = exactNumbers(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = exactNumbers(v[k])
		}
	}
	return v
}

// canonicalNumber writes a JSON number as its sign, its significant digits
// and a power of ten, so that 1.50, 15e-1 and 1.5 are one value, and two
// texts are the same exactly when their values are.
func canonicalNumber(s string) exactNumber {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	mantissa, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil { // beyond any int: compare as written
			return exactNumber(sign + s)
		}
		mantissa, exp = s[:i], e
	}
	if whole, frac, ok := strings.Cut(mantissa, "."); ok {
		mantissa, exp = whole+frac, exp-len(frac)
	}
	trimmed := strings.TrimRight(mantissa, "0")
	exp += len(mantissa) - len(trimmed)
	digits := strings.TrimLeft(trimmed, "0")
	if digits == "" {
		return "0"
	}
	return exactNumber(sign + digits + "e" + strconv.Itoa(exp))
}
