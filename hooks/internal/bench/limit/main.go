// Command limit is the stack's limit for make bench: the webhook's job done
// without PocketBase, as fast as its own parts allow. It serves POST
// /api/webhooks/clerk on a pb_data that PocketBase created (so the tables,
// columns and indexes are PocketBase's own) with net/http, svix Verify,
// modernc.org/sqlite with the app's pragmas, statements prepared once, and a
// group commit of up to 32 deliveries, answering 200 after the commit.
//
// It takes the app's serve flags, so the bench starts it as it starts the app:
//
//	limit serve --http=127.0.0.1:8091 --dir=pb_data
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/clerk/clerk-sdk-go/v2"
	svix "github.com/svix/svix-webhooks/go"
	_ "modernc.org/sqlite"
)

// pragmas are hooks.DBConnect's: PocketBase's defaults with an 8 MiB page cache.
const pragmas = "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=journal_size_limit(200000000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_pragma=temp_store(MEMORY)&_pragma=cache_size(-8000)&_defensive=1&_txlock=immediate"

const maxBatch = 32

// lockedPasswordHash is what the app stores as a client's password.
const lockedPasswordHash = "!clerk-managed: password sign-in is not used"

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 || os.Args[1] != "serve" {
		log.Fatal("usage: limit serve --http=ADDR --dir=PB_DATA")
	}
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("http", "127.0.0.1:8091", "address to serve")
	dir := fs.String("dir", "pb_data", "a pb_data made by the app")
	fs.Bool("dev", false, "accepted for the app's flags; ignored")
	_ = fs.Parse(os.Args[2:])

	wh, err := svix.NewWebhook(os.Getenv("CLERK_WEBHOOK_SECRET"))
	if err != nil {
		log.Fatal("CLERK_WEBHOOK_SECRET: ", err)
	}
	db, err := sql.Open("sqlite", filepath.Join(*dir, "data.db")+pragmas)
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(1) // one writer, as SQLite allows
	st, err := prepare(db)
	if err != nil {
		log.Fatal(err)
	}
	s := &server{wh: wh, db: db, st: st, queue: make(chan *pending, maxBatch)}
	go s.run()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("POST /api/webhooks/clerk", s.handle)
	srv := &http.Server{Addr: *addr, Handler: mux}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// syncedColumnList are the columns of clients the app's sync writes for a
// user (hooks.setClientFields), and updated.
var syncedColumnList = []string{
	"clerkId", "email", "verified", "phone", "firstName", "lastName", "username", "imageUrl",
	"publicMetadata", "privateMetadata", "unsafeMetadata", "externalId", "banned", "locked",
	"twoFactorEnabled", "passwordEnabled", "emailAddresses", "phoneNumbers", "externalAccounts",
	"web3Wallets", "lastSignInAt", "lastActiveAt", "legalAcceptedAt", "clerkCreatedAt",
	"clerkUpdatedAt", "clerkUser", "updated",
}

var syncedColumns = strings.Join(syncedColumnList, ", ")

type statements struct {
	findClient, tombstoned, insertClient, updateClient, insertEvent *sql.Stmt
}

func prepare(db *sql.DB) (*statements, error) {
	var s statements
	var err error
	for _, p := range []struct {
		st  **sql.Stmt
		sql string
	}{
		{&s.findClient, "SELECT id, clerkUpdatedAt FROM clients WHERE clerkId = ? LIMIT 1"},
		{&s.tombstoned, "SELECT 1 FROM clerk_tombstones WHERE clerkId = ? LIMIT 1"},
		{&s.insertClient, "INSERT INTO clients (" + syncedColumns + ", id, emailVisibility, password, tokenKey, created) VALUES (" + strings.Repeat("?, ", len(syncedColumnList)) + "?, 0, ?, ?, ?)"},
		{&s.updateClient, "UPDATE clients SET " + strings.Join(syncedColumnList, " = ?, ") + " = ? WHERE id = ?"},
		{&s.insertEvent, "INSERT INTO clerk_events (id, svixId, type, clerkId, outcome, eventAt, created) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (svixId) DO NOTHING"},
	} {
		if *p.st, err = db.Prepare(p.sql); err != nil {
			return nil, err
		}
	}
	return &s, nil
}

type server struct {
	wh    *svix.Webhook
	db    *sql.DB
	st    *statements
	queue chan *pending
}

type pending struct {
	svixID, typ string
	raw         json.RawMessage // the user as Clerk sent it
	at          int64
	user        *clerk.User
	outcome     string
	err         error
	done        chan struct{}
}

func (s *server) handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := s.wh.Verify(body, r.Header); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var env struct {
		Type      string          `json:"type"`
		Timestamp int64           `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	p := &pending{svixID: r.Header.Get("svix-id"), done: make(chan struct{})}
	if err := json.Unmarshal(body, &env); err != nil || json.Unmarshal(env.Data, &p.user) != nil || p.user == nil || p.user.ID == "" {
		http.Error(w, "not a Clerk user event", http.StatusBadRequest)
		return
	}
	p.typ, p.at, p.raw = env.Type, env.Timestamp, env.Data
	s.queue <- p
	<-p.done
	if p.err != nil {
		http.Error(w, p.err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"svixId": p.svixID, "outcome": p.outcome})
}

// run commits what arrived together in one transaction.
func (s *server) run() {
	for p := range s.queue {
		batch := []*pending{p}
	fill:
		for len(batch) < maxBatch {
			select {
			case p := <-s.queue:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		err := s.commit(batch)
		for _, p := range batch {
			if err != nil {
				p.err = err
			}
			close(p.done)
		}
	}
}

func (s *server) commit(batch []*pending) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, p := range batch {
		if p.outcome, err = s.apply(tx, p); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// apply is the app's userChange.apply for created and updated users, and its log row.
func (s *server) apply(tx *sql.Tx, p *pending) (string, error) {
	now := date(time.Now().UnixMilli())
	u := p.user
	var id, clerkUpdatedAt string
	err := tx.Stmt(s.st.findClient).QueryRow(u.ID).Scan(&id, &clerkUpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	if err != nil {
		return "", err
	}
	outcome := "updated"
	switch {
	case p.typ != "user.created" && p.typ != "user.updated":
		outcome = "ignored"
	case id == "":
		var gone int
		if err := tx.Stmt(s.st.tombstoned).QueryRow(u.ID).Scan(&gone); err == nil {
			outcome = "gone"
			break
		} else if !errors.Is(err, sql.ErrNoRows) {
			return "", err
		}
		outcome = "created"
		_, err = tx.Stmt(s.st.insertClient).Exec(append(synced(u, p.raw, now), randomID(15), lockedPasswordHash, randomID(50), now)...)
	case date(u.UpdatedAt) < clerkUpdatedAt:
		outcome = "stale"
	default:
		_, err = tx.Stmt(s.st.updateClient).Exec(append(synced(u, p.raw, now), id)...)
	}
	if err != nil {
		return "", err
	}
	res, err := tx.Stmt(s.st.insertEvent).Exec(randomID(15), p.svixID, p.typ, u.ID, outcome, date(p.at), now)
	if err != nil {
		return "", err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", fmt.Errorf("svix-id %s already applied", p.svixID) // the bench never redelivers
	}
	return outcome, nil
}

// synced is the values of syncedColumnList for u.
func synced(u *clerk.User, raw json.RawMessage, now string) []any {
	email, verified := primaryEmail(u)
	meta := func(raw json.RawMessage) string {
		if len(raw) == 0 || string(raw) == "null" {
			return "{}"
		}
		return string(raw)
	}
	type entry struct {
		ID       string `json:"id"`
		Value    string `json:"value"`
		Verified bool   `json:"verified"`
		Primary  bool   `json:"primary"`
	}
	var emails, phones, wallets, accounts []entry
	for _, e := range u.EmailAddresses {
		emails = append(emails, entry{e.ID, e.EmailAddress, e.Verification != nil && e.Verification.Status == "verified", e.ID == deref(u.PrimaryEmailAddressID)})
	}
	for _, p := range u.PhoneNumbers {
		phones = append(phones, entry{p.ID, p.PhoneNumber, p.Verification != nil && p.Verification.Status == "verified", p.ID == deref(u.PrimaryPhoneNumberID)})
	}
	for _, w := range u.Web3Wallets {
		wallets = append(wallets, entry{w.ID, w.Web3Wallet, w.Verification != nil && w.Verification.Status == "verified", w.ID == deref(u.PrimaryWeb3WalletID)})
	}
	for _, a := range u.ExternalAccounts {
		accounts = append(accounts, entry{a.ID, a.EmailAddress, a.Verification != nil && a.Verification.Status == "verified", false})
	}
	list := func(v []entry) string {
		b, _ := json.Marshal(v)
		if v == nil {
			return "[]"
		}
		return string(b)
	}
	return []any{u.ID, email, verified, "", deref(u.FirstName), deref(u.LastName), deref(u.Username), deref(u.ImageURL),
		meta(u.PublicMetadata), meta(u.PrivateMetadata), meta(u.UnsafeMetadata), deref(u.ExternalID), u.Banned, u.Locked,
		u.TwoFactorEnabled, u.PasswordEnabled, list(emails), list(phones), list(accounts), list(wallets),
		datePtr(u.LastSignInAt), datePtr(u.LastActiveAt), datePtr(u.LegalAcceptedAt), date(u.CreatedAt), date(u.UpdatedAt),
		string(raw), now}
}

func primaryEmail(u *clerk.User) (string, bool) {
	for _, e := range u.EmailAddresses {
		if e != nil && u.PrimaryEmailAddressID != nil && e.ID == *u.PrimaryEmailAddressID {
			return e.EmailAddress, e.Verification != nil && e.Verification.Status == "verified"
		}
	}
	return "", false
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// date is PocketBase's stored form of a date.
func date(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format(types.DefaultDateLayout)
}

func datePtr(ms *int64) string {
	if ms == nil {
		return ""
	}
	return date(*ms)
}

// randomID is a PocketBase-style id: n characters of [a-z0-9].
func randomID(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
