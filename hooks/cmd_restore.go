package hooks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/benbjohnson/litestream"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// restoreOptions is one "restore".
type restoreOptions struct {
	From  string    // the replica URL
	To    time.Time // zero: the latest state
	Dir   string    // the data folder to restore into
	Force bool      // set an existing data folder aside
	// Follow keeps applying the replica's new changes until ctx ends (a
	// warm standby), then checks the database.
	Follow bool
}

// restoreResult says what a restore brought back.
type restoreResult struct {
	Path      string    // the restored data.db
	SetAside  string    // where an existing data folder went (--force), or ""
	UpdatedAt time.Time // the replica's newest write, when restoring the latest state
}

func (p *plugin) restoreCommand() *cobra.Command {
	var (
		opts   restoreOptions
		to     string
		noSync bool
	)
	cmd := &cobra.Command{
		Use:   "restore --from URL",
		Short: "Restore pb_data/data.db from a replica (REPLICA_URL), at its latest state or at a time, then bring Clerk's data up to date",
		Long: `Restores pb_data/data.db from the replica that "serve" writes with REPLICA_URL
(or --replica): its latest state, or its state at --to. The data folder
(--dir, default pb_data) must hold no data.db; --force moves an existing folder
aside, to pb_data.before-restore-<time>, first. Stop the server on that folder
before restoring.

The restored database's integrity is checked (PRAGMA integrity_check). Then,
when CLERK_SECRET_KEY is set, "clerk sync --prune" runs, so that the users,
organizations and memberships Clerk changed since that point are as Clerk has
them (the prune guard applies: see "clerk sync --help"); --no-sync skips it.

What comes back: the app's own records up to the replica's lag (about a
second or two behind the server), Clerk's data in full after the sync.
Uploaded files (pb_data/storage) and the logs (auxiliary.db) are not in the
replica.

--follow makes a warm standby: after the restore it keeps applying the
replica's new changes, every second, until it is stopped (Ctrl-C, SIGTERM);
then it checks the database and runs the sync, and the folder is ready to
serve. Started again on the folder it followed into, it resumes. Serve the
folder only once the follower has stopped.`,
		Example: `  pocketclerk restore --from s3://my-bucket/pocketclerk
  pocketclerk restore --from file:///var/backups/pocketclerk --to 2026-12-06T10:00:00Z --dir /srv/pocketclerk/pb_data
  pocketclerk restore --from s3://my-bucket/pocketclerk --follow   # a warm standby, until stopped`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		Annotations:  map[string]string{noDatabaseAnnotation: "true"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.From == "" {
				opts.From = p.config.ReplicaURL
			}
			if opts.From == "" {
				return errors.New("restore needs the replica: --from s3://bucket/path (or file:///path), or REPLICA_URL set as the server has it")
			}
			if err := checkReplicaURL(opts.From); err != nil {
				return err
			}
			if to != "" {
				t, err := time.Parse(time.RFC3339, to)
				if err != nil {
					return fmt.Errorf("--to %q is not a time: use RFC 3339, such as 2026-12-06T10:00:00Z", to)
				}
				opts.To = t
			}
			opts.Dir = p.app.DataDir()
			if dir, err := cmd.Flags().GetString("dir"); err == nil && dir != "" {
				opts.Dir = dir
			}
			if opts.Follow && !opts.To.IsZero() {
				return errors.New("--follow follows the replica's latest state: leave out --to")
			}
			out := cmd.OutOrStdout()
			// Litestream's routine messages are not the operator's.
			slog.SetDefault(slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn})))
			ctx := cmd.Context()
			if opts.Follow {
				var stop context.CancelFunc
				ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
				defer stop()
				fmt.Fprintf(out, "Following %s into %s until stopped (Ctrl-C or SIGTERM)...\n", redactReplicaURL(opts.From), opts.Dir)
			}
			res, err := restoreDataDir(ctx, opts)
			if err != nil {
				return err
			}
			if res.SetAside != "" {
				fmt.Fprintf(out, "The data folder that was there is now %s.\n", res.SetAside)
			}
			state := "its latest state"
			if opts.Follow {
				state = "followed until stopped"
			} else if !opts.To.IsZero() {
				state = "its state at " + opts.To.UTC().Format(time.RFC3339)
			} else if !res.UpdatedAt.IsZero() {
				state += " (written " + res.UpdatedAt.UTC().Format(time.RFC3339) + ")"
			}
			fmt.Fprintf(out, "Restored %s from %s, %s; integrity check: ok.\n", res.Path, redactReplicaURL(opts.From), state)
			switch {
			case noSync:
				fmt.Fprintln(out, "Clerk's data is as the replica had it (--no-sync): run \"clerk sync --prune\" before serving, so that what Clerk changed since comes back.")
				return nil
			case p.config.SecretKey == "":
				fmt.Fprintln(out, "CLERK_SECRET_KEY is not set, so Clerk's data is as the replica had it: set it and run \"clerk sync --prune --dir "+opts.Dir+"\" before serving, so that what Clerk changed since comes back.")
				return nil
			}
			fmt.Fprintln(out, "Bringing Clerk's users, organizations and memberships up to date: clerk sync --prune")
			if err := runSyncAfterRestore(cmd, opts.Dir); err != nil {
				return fmt.Errorf("the database is restored, but clerk sync --prune did not complete (%v): read its output above, then run \"clerk sync --prune --dir %s\" before serving", err, opts.Dir)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.From, "from", "", "the replica: s3://bucket/path or file:///path (default REPLICA_URL)")
	cmd.Flags().StringVar(&to, "to", "", "restore the state at this time (RFC 3339, e.g. 2026-12-06T10:00:00Z) instead of the latest")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "move an existing data folder aside (to <dir>.before-restore-<time>) instead of refusing")
	cmd.Flags().BoolVar(&noSync, "no-sync", false, "do not run clerk sync --prune after the restore")
	cmd.Flags().BoolVar(&opts.Follow, "follow", false, "a warm standby: keep applying the replica's new changes until stopped, then check and sync")
	return cmd
}

// restoreDataDir restores opts.Dir/data.db from the replica and checks its
// integrity. The database is written beside its place and moved there only
// once it is whole and checked.
func restoreDataDir(ctx context.Context, opts restoreOptions) (restoreResult, error) {
	var res restoreResult
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return res, err
	}
	final := filepath.Join(dir, "data.db")
	resuming := opts.Follow && fileExists(final) && fileExists(litestream.TXIDPath(final))
	if used, err := dataDirInUse(dir); err != nil {
		return res, err
	} else if used && !resuming {
		if !opts.Force {
			return res, fmt.Errorf("%s already holds a database: restore into an empty data folder (--dir), or add --force to move this one aside first (stop the server on it before)", dir)
		}
		res.SetAside = fmt.Sprintf("%s.before-restore-%s", dir, time.Now().UTC().Format("20060102T150405Z"))
		if err := os.Rename(dir, res.SetAside); err != nil {
			return res, fmt.Errorf("moving the existing data folder aside: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, fmt.Errorf("creating the data folder: %w", err)
	}

	client, err := litestream.NewReplicaClientFromURL(opts.From)
	if err != nil {
		return res, fmt.Errorf("the replica %s: %w", redactReplicaURL(opts.From), err)
	}
	replica := litestream.NewReplicaWithClient(nil, client)
	if opts.To.IsZero() {
		_, res.UpdatedAt, _ = replica.TimeBounds(ctx)
	} else {
		created, updated, err := replica.TimeBounds(ctx)
		if err != nil {
			return res, fmt.Errorf("reading the replica %s: %w. Check the URL and, for S3, the AWS_* credentials", redactReplicaURL(opts.From), err)
		}
		if created.IsZero() {
			return res, fmt.Errorf("the replica %s holds no database: check the URL (the server writes it with REPLICA_URL)", redactReplicaURL(opts.From))
		}
		if opts.To.Before(created) {
			return res, fmt.Errorf("--to %s is before the replica's oldest state (%s): Litestream keeps about a day of history; choose a time from %s to %s", opts.To.UTC().Format(time.RFC3339), created.UTC().Format(time.RFC3339), created.UTC().Format(time.RFC3339), updated.UTC().Format(time.RFC3339))
		}
	}

	partial := final + ".restoring"
	_ = os.Remove(partial)
	ro := litestream.NewRestoreOptions()
	ro.OutputPath = partial
	ro.IntegrityCheck = litestream.IntegrityCheckFull
	if opts.Follow {
		// Litestream follows into the database's own place, and resumes
		// there from the position in data.db-txid.
		ro.OutputPath, ro.Follow, partial = final, true, final
	}
	if !opts.To.IsZero() && opts.To.Before(time.Now()) {
		ro.Timestamp = opts.To
	}
	if err := replica.Restore(ctx, ro); err != nil {
		if !resuming {
			_ = os.Remove(partial)
		}
		if errors.Is(err, litestream.ErrNoSnapshots) || errors.Is(err, litestream.ErrTxNotAvailable) {
			return res, fmt.Errorf("the replica %s holds no database to restore (%v): check the URL (the server writes it with REPLICA_URL)", redactReplicaURL(opts.From), err)
		}
		return res, fmt.Errorf("restoring from %s failed: %w. Check the URL and, for S3, the AWS_* credentials; nothing was written to %s", redactReplicaURL(opts.From), err, final)
	}
	if opts.Follow {
		// Stopped: the folder is to be served, and no longer followed.
		if err := integrityCheck(context.WithoutCancel(ctx), final); err != nil {
			return res, err
		}
		if err := os.Remove(litestream.TXIDPath(final)); err != nil && !os.IsNotExist(err) {
			return res, err
		}
		res.Path = final
		return res, nil
	}
	if err := integrityCheck(ctx, partial); err != nil {
		_ = os.Remove(partial)
		return res, err
	}
	if err := os.Rename(partial, final); err != nil {
		return res, err
	}
	res.Path = final
	return res, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// dataDirInUse tells whether dir holds anything a restore would replace.
func dataDirInUse(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "data.db") || strings.HasPrefix(e.Name(), "auxiliary.db") || e.Name() == "storage" {
			return true, nil
		}
	}
	return false, nil
}

// integrityCheck runs PRAGMA integrity_check on the database at path.
func integrityCheck(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer db.Close()
	var result string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&result); err != nil {
		return fmt.Errorf("checking the restored database: %w", err)
	}
	if result != "ok" {
		return fmt.Errorf("the restored database fails its integrity check (%s): it was not put in place. Try an earlier --to, and report the replica's state", result)
	}
	return nil
}

// runSyncAfterRestore runs this binary's "clerk sync --prune" on dir, with
// the root flags given to restore (--hooksDir, --migrationsDir, ...), its
// output the restore's.
func runSyncAfterRestore(cmd *cobra.Command, dir string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"clerk", "sync", "--prune", "--dir", dir}
	cmd.Root().PersistentFlags().Visit(func(f *pflag.Flag) {
		if f.Name != "dir" && f.Name != "replica" {
			args = append(args, "--"+f.Name+"="+f.Value.String())
		}
	})
	sync := exec.CommandContext(cmd.Context(), self, args...)
	// The terminal itself, so that the sync draws its progress bar there.
	sync.Stdout, sync.Stderr = os.Stdout, os.Stderr
	// The sync is not the server: it must not replicate.
	sync.Env = append(os.Environ(), "REPLICA_URL=")
	return sync.Run()
}
