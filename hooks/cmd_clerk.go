package hooks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// syncJobID names the scheduled repair in PocketBase's cron.
const syncJobID = "clerkSync"

// registerOps adds the "clerk" command group and, when configured, the
// scheduled repair.
func (p *plugin) registerOps(rootCmd *cobra.Command) error {
	if err := p.scheduleSync(); err != nil {
		return err
	}
	if rootCmd != nil {
		rootCmd.AddCommand(p.clerkCommand(), p.restoreCommand())
	}
	return nil
}

func (p *plugin) clerkCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "clerk",
		Short: "Clerk tools: backfill and repair clients from the Backend API, send signed test events",
		Long: `Clerk tools: "clerk sync" backfills and repairs clients, organizations and
memberships from Clerk's Backend API (CLERK_SECRET_KEY); "clerk send" posts a
signed test event to a running server (CLERK_WEBHOOK_SECRET).

` + EnvironmentHelp,
		// A mistyped subcommand is an error, not this help with status 0.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if suggestions := cmd.SuggestionsFor(args[0]); len(suggestions) > 0 {
				msg += "; did you mean " + cmd.CommandPath() + " " + strings.Join(suggestions, " or ") + "?"
			} else {
				msg += "; its commands are sync and send"
			}
			return errors.New(msg)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
		SilenceUsage:               true,
		SuggestionsMinimumDistance: 2,
	}
	cmd.AddCommand(p.syncCommand(), p.sendCommand())
	return cmd
}

// EnvironmentHelp lists the variables that configure the Clerk part, for
// the commands' help.
const EnvironmentHelp = `Environment (see the README, "Configuration"):
  CLERK_WEBHOOK_SECRET         the webhook endpoint's signing secret (whsec_...);
                               CLERK_WEBHOOK_SIGNING_SECRET, Clerk's name, works too
  CLERK_SECRET_KEY             Backend API key (sk_...): clerk sync, first sight, JWKS
  CLERK_PUBLISHABLE_KEY        publishable key (pk_...) for the profile page at /
  CLERK_JWT_KEY                PEM public key for session tokens, instead of the JWKS
  CLERK_API_URL                Backend API base (default https://api.clerk.com)
  CLERK_AUTHORIZED_PARTIES     origins a session token may come from, comma-separated
  CLERK_SYNC_SCHEDULE          cron expression (UTC) for a scheduled clerk sync --prune
  CLERK_USER_DELETE            delete (default) or anonymize a deleted user's client
  CLERK_REALTIME_INDEX         on (default) or off: realtime served by PocketBase's own loop
  CLERK_EVENT_RETENTION_DAYS   days the delivery log keeps a row (default 30)
  REPLICA_URL                  replicate pb_data/data.db while serving (s3://bucket/path,
                               file:///path; AWS_* credentials); see "restore"`

func (p *plugin) syncCommand() *cobra.Command {
	var opts syncOptions
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Create and update a client for every Clerk user, and every organization and membership (CLERK_SECRET_KEY); --prune also deletes what Clerk no longer has",
		Long: `Reads every user, organization and organization membership from Clerk's
Backend API and applies each as the webhook would: newer local data is kept
and deleted ones never come back. Safe to run while the server is serving the
same --dir.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if p.config.SecretKey == "" {
				return errors.New("CLERK_SECRET_KEY is not set: clerk sync reads users from Clerk's Backend API with it. Set it to the secret key (sk_...) from Clerk's dashboard, API keys, and run again; nothing was written")
			}
			// As "serve" does: the collections must exist in a fresh --dir.
			if err := p.app.RunAllMigrations(); err != nil {
				return fmt.Errorf("applying migrations: %w", err)
			}
			// Name the database: a sync into a folder nobody serves looks
			// like a success otherwise.
			dbPath, _ := filepath.Abs(filepath.Join(p.app.DataDir(), "data.db"))
			before, err := p.app.CountRecords(migrations.ClientsCollection)
			if err != nil {
				return fmt.Errorf("counting the clients in %s: %w", dbPath, err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Database %s: %d clients\n", dbPath, before)

			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// Progress goes to the terminal: PocketBase discards cobra's error writer.
			opts.pruned = func(clients []prunedClient) {
				verb := "deleted"
				if opts.DryRun {
					verb = "would delete"
				}
				for _, c := range clients {
					fmt.Fprintln(out, strings.TrimSpace(strings.Join([]string{verb, c.ClerkID, c.Email, c.Name}, " ")))
				}
			}
			counts, err := p.recordedSync(ctx, migrations.TriggerCommand, opts, os.Stderr)
			var wouldStop *pruneWouldStop
			if err != nil && !errors.As(err, &wouldStop) {
				return err // the error alone: a summary of a failed run misleads
			}
			fmt.Fprintln(out, counts.summary(opts.DryRun))
			if after, err := p.app.CountRecords(migrations.ClientsCollection); err == nil {
				fmt.Fprintf(out, "Database %s: %d clients before, %d after\n", dbPath, before, after)
			}
			return err // a dry run whose real run would stop fails as that run would
		},
	}
	cmd.Flags().BoolVar(&opts.Prune, "prune", false, "also delete (and tombstone) clients whose Clerk user no longer exists")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "report what would change and write nothing")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "let --prune delete more than a tenth of the clients (or all of them)")
	return cmd
}

// scheduleSync runs "clerk sync --prune" on PocketBase's cron when
// SyncSchedule is set (Config.validate checked it). A run that is still
// going when the next one is due makes that one skip.
func (p *plugin) scheduleSync() error {
	if p.config.SyncSchedule == "" {
		return nil
	}
	return p.app.Cron().Add(syncJobID, p.config.SyncSchedule, func() {
		if !p.syncs.begin(&syncRun{Trigger: migrations.TriggerSchedule, Prune: true}) {
			p.app.Logger().Warn("Scheduled Clerk sync skipped: another run is still going")
			return
		}
		defer p.syncs.end()
		p.runScheduledSync(context.Background())
	})
}

func (p *plugin) runScheduledSync(ctx context.Context) {
	started := time.Now()
	// PocketBase's cron does not recover a job's panic, which would reach
	// stdout only: the Logs must say the run failed.
	defer func() {
		if v := recover(); v != nil {
			p.app.Logger().Error("Scheduled Clerk sync failed with a panic; it runs again at the next scheduled time", "panic", fmt.Sprint(v), "stack", string(debug.Stack()), "duration", time.Since(started).String())
		}
	}()
	counts, err := p.recordedSync(ctx, migrations.TriggerSchedule, syncOptions{Prune: true}, nil)
	attrs := []any{
		"listed", counts.Listed, "created", counts.Created, "updated", counts.Updated,
		"unchanged", counts.Unchanged, "skipped", counts.Skipped, "deleted", counts.Deleted,
		"failed", counts.Failed, "hookFailures", counts.HookFailures, "duration", time.Since(started).String(),
		"organizations", counts.Organizations, "memberships", counts.Memberships,
		"billingPlans", counts.Plans, "subscriptionItems", counts.Items,
	}
	if err != nil {
		p.app.Logger().Error("Scheduled Clerk sync failed; it runs again at the next scheduled time", append(attrs, "error", err.Error())...)
		return
	}
	p.app.Logger().Info("Scheduled Clerk sync", attrs...)
}
