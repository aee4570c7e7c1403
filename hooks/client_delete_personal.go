package hooks

import (
	"fmt"
	"strings"
	"sync"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// forgetUser clears, in the transaction that deletes or anonymizes client,
// what the Clerk page's tables still say of the user beyond the Clerk id:
// failure reasons and sync runs' errors holding the email (as earlier
// versions wrote them) and the email and name in sync runs' lists. Once
// the deletion commits, scrubber (when not nil) scrubs the logs too.
func forgetUser(txApp core.App, client *clientRecord, scrubber *logScrubber) error {
	email := client.Email()
	if email != "" {
		_, err := txApp.DB().NewQuery("DELETE FROM " + migrations.DeliveryFailuresCollection + " WHERE instr(reason, {:email}) > 0").
			Bind(dbx.Params{"email": email}).Execute()
		if err != nil {
			return err
		}
		_, err = txApp.DB().NewQuery("UPDATE " + migrations.SyncRunsCollection + " SET error = replace(error, {:email}, {:clerkId}) WHERE instr(error, {:email}) > 0").
			Bind(dbx.Params{"email": email, "clerkId": client.ClerkID()}).Execute()
		if err != nil {
			return err
		}
	}
	_, err := txApp.DB().NewQuery("UPDATE " + migrations.SyncRunsCollection + " SET pruned = (" +
		"SELECT json_group_array(CASE WHEN json_extract(value, '$.clerkId') = {:clerkId} THEN json_remove(value, '$.email', '$.name') ELSE json(value) END)" +
		" FROM json_each(pruned)) WHERE json_valid(pruned) AND instr(pruned, {:clerkId}) > 0").
		Bind(dbx.Params{"clerkId": client.ClerkID()}).Execute()
	if err != nil || email == "" || scrubber == nil {
		return err
	}
	if tx := txApp.TxInfo(); tx != nil {
		tx.OnComplete(func(txErr error) error {
			if txErr == nil {
				scrubber.add(email)
			}
			return nil
		})
	} else {
		scrubber.add(email)
	}
	return nil
}

// logScrubsPerQuery bounds the addresses one DELETE looks for.
const logScrubsPerQuery = 50

// logScrubber deletes the log rows that name deleted users' emails (a
// request's URL with a filter on one, an error of an earlier version). It
// reads the whole _logs table, so it runs after the deletion commits, in
// one goroutine at a time, with the addresses that came meanwhile batched.
type logScrubber struct {
	app     core.App
	mu      sync.Mutex
	pending []string
	running bool
}

func (s *logScrubber) add(email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, email)
	if !s.running {
		s.running = true
		go s.run()
	}
}

func (s *logScrubber) run() {
	for {
		s.mu.Lock()
		batch := s.pending[:min(len(s.pending), logScrubsPerQuery)]
		s.pending = s.pending[len(batch):]
		if len(batch) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()

		params, conds := dbx.Params{}, make([]string, len(batch))
		for i, email := range batch {
			name := fmt.Sprint("email", i)
			params[name] = email
			conds[i] = "instr(message, {:" + name + "}) > 0 OR instr(data, {:" + name + "}) > 0"
		}
		_, err := s.app.AuxNonconcurrentDB().NewQuery("DELETE FROM _logs WHERE " + strings.Join(conds, " OR ")).Bind(params).Execute()
		if err != nil {
			// No address in this message: it would undo the scrub.
			s.app.Logger().Warn("Could not delete the log rows naming deleted Clerk users; delete them in Settings → Logs, or wait for PocketBase's log retention", "users", len(batch), "error", err.Error())
		}
	}
}
