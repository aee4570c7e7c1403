package migrations

import "github.com/pocketbase/pocketbase/core"

// deleteCollections deletes the named collections, in order: a collection
// that others refer to comes after them.
func deleteCollections(app core.App, names ...string) error {
	for _, name := range names {
		c, err := app.FindCollectionByNameOrId(name)
		if err != nil {
			return err
		}
		if err := app.Delete(c); err != nil {
			return err
		}
	}
	return nil
}
