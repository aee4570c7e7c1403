// The Clerk page of PocketBase's dashboard: the sync's health at a glance,
// from GET /api/clerk/status, refreshed every few seconds.
//
// PocketBase runs this file inside its dashboard (an experimental UI
// extension), where `app`, `t`, `store` and `watch` are its own globals.

const STATUS_PATH = "/api/clerk/status";
const SYNC_PATH = "/api/clerk/sync";
const REFRESH_MS = 5000;
const REFRESH_RUNNING_MS = 1000;

const COLORS = {
    created: "#22a96d",
    updated: "#3376e5",
    deleted: "#7b4fc9",
    unchanged: "#9aa5ad",
    stale: "#c9a227",
    gone: "#5d6b77",
    ignored: "#c6ced5",
    refused: "#c33751",
    invalid: "#e57534",
    "too large": "#a8326b",
    unavailable: "#f0a33a",
    "rate limited": "#d9779a",
    failed: "#7a1328",
};

document.head.appendChild(t.link({ rel: "stylesheet", href: app.pb.buildURL("/_/extensions/clerk/clerk.css") }));

app.store.headerLinks.push({ href: "#/clerk", icon: "ri-user-shared-line", label: "Clerk" });

app.routes.superuserOnly("#/clerk", () => clerkPage());

// A record panel's fields that only the sync changes (their help says
// "Synced from Clerk") are shown read-only, rather than refused on save.
const CLERK_OWNED_HELP = "Synced from Clerk";
new MutationObserver(() => {
    for (const help of document.querySelectorAll(".field-help")) {
        const field = help.parentElement;
        if (!field || !help.textContent.startsWith(CLERK_OWNED_HELP)) {
            continue;
        }
        field.classList.add("clerk-owned");
        for (const input of field.querySelectorAll("input, textarea")) {
            input.readOnly = true;
            if (input.type == "checkbox") {
                input.disabled = true;
            }
        }
        for (const node of field.querySelectorAll("select, button")) {
            node.disabled = true;
        }
        for (const editor of field.querySelectorAll("[contenteditable=true]")) {
            editor.contentEditable = "false";
        }
    }
}).observe(document.body, { childList: true, subtree: true });

function clerkPage() {
    app.store.title = "Clerk";

    const data = store({
        report: null,
        error: "",
        loadedAt: null,
        starting: false,
    });

    let timer = null;
    let stopped = false;

    async function load() {
        clearTimeout(timer);
        try {
            data.report = await app.pb.send(STATUS_PATH, { requestKey: "clerkStatus" });
            data.error = "";
            data.loadedAt = new Date();
        } catch (err) {
            if (err?.isAbort) {
                return;
            }
            data.error = err?.response?.message || err?.message || String(err);
        }
        if (!stopped) {
            timer = setTimeout(load, data.report?.lastSync?.running ? REFRESH_RUNNING_MS : REFRESH_MS);
        }
    }

    async function startSync(body) {
        data.starting = true;
        try {
            await app.pb.send(SYNC_PATH, { method: "POST", body });
            app.toasts.success(body.dryRun ? "Dry run of clerk sync --prune started." : "clerk sync started.");
        } catch (err) {
            app.checkApiError(err);
        }
        data.starting = false;
        load();
    }

    return t.div(
        {
            pbEvent: "pageClerk",
            className: "page page-clerk",
            onmount: () => load(),
            onunmount: () => {
                stopped = true;
                clearTimeout(timer);
            },
        },
        t.div(
            { className: "page-content full-height" },
            t.header(
                { className: "page-header" },
                t.nav({ className: "breadcrumbs" }, t.div({ className: "breadcrumb-item" }, "Clerk")),
                app.components.refreshButton({ onclick: () => load() }),
                t.small(
                    { className: "txt-hint m-l-auto", id: "clerk-loaded-at" },
                    () => data.loadedAt ? "Updated " + data.loadedAt.toLocaleTimeString() : "",
                ),
            ),
            t.div(
                {
                    id: "clerk-status",
                    className: "clerk-status",
                    "html-data-state": () => data.error ? "error" : data.report ? "ready" : "loading",
                },
                () => data.error ? t.div({ className: "alert danger", id: "clerk-error" }, data.error) : null,
                () => {
                    const r = data.report;
                    if (!r) {
                        return data.error ? null : t.span({ className: "loader lg" });
                    }
                    return [
                        deliveriesCard(r),
                        configurationCard(r),
                        syncCard(r, data, startSync),
                        recordsCard(r),
                        replicationCard(r),
                        fanOutCard(r),
                        failuresCard(r),
                    ];
                },
            ),
            t.footer({ className: "page-footer" }, app.components.credits()),
        ),
    );
}

function card(id, title, ...children) {
    return t.section({ id, className: "clerk-card" }, t.h2({ className: "clerk-card-title" }, title), ...children);
}

function configurationCard(r) {
    return card(
        "clerk-config",
        "Configuration",
        t.ul(
            { className: "clerk-parts" },
            r.configuration.map((p) =>
                t.li(
                    { className: "clerk-part", "html-data-state": p.state },
                    t.span({ className: `label sm ${stateClass(p.state)}` }, p.state),
                    t.div(
                        { className: "clerk-part-body" },
                        t.strong(null, p.name),
                        " ",
                        p.variable ? t.code({ className: "clerk-variable" }, p.variable) : null,
                        t.div({ className: "txt-hint txt-sm" }, p.detail),
                    ),
                )
            ),
        ),
    );
}

function stateClass(state) {
    return state == "ok" ? "success" : state == "missing" ? "danger" : "warning";
}

function deliveriesCard(r) {
    const d = r.deliveries;
    const last = newest(r.lastApplied, r.lastFailed);
    return card(
        "clerk-deliveries",
        "Deliveries, last 24 hours",
        t.p(
            { className: "clerk-summary" },
            t.strong({ id: "clerk-applied" }, String(d.applied)),
            " applied, ",
            t.strong({ id: "clerk-failed", className: d.failed ? "txt-danger" : "" }, String(d.failed)),
            " refused or failed. ",
            t.span({ id: "clerk-last-delivery" }, last ? lastDeliveryText(last) : "No delivery yet."),
        ),
        chart(d),
    );
}

function newest(applied, failed) {
    if (!applied || !failed) {
        return applied || failed;
    }
    return parseDate(applied.at) >= parseDate(failed.at) ? applied : failed;
}

function lastDeliveryText(last) {
    const what = last.status ? `${last.status} ${last.outcome}` : `${last.type}, ${last.outcome}`;
    return `Last delivery ${ago(last.ageSeconds)} (${what}).`;
}

function chart(d) {
    const max = Math.max(1, ...d.hours.map((_, i) => d.series.reduce((sum, s) => sum + s.counts[i], 0)));
    return t.div(
        { className: "clerk-chart" },
        t.div(
            { className: "clerk-bars", role: "img", ariaLabel: "Deliveries per hour and outcome" },
            d.hours.map((hour, i) => {
                const start = parseDate(hour);
                const parts = d.series.filter((s) => s.counts[i] > 0);
                const title = hourLabel(start) + ": "
                    + (parts.length ? parts.map((s) => `${s.counts[i]} ${s.outcome}`).join(", ") : "none");
                return t.div(
                    { className: "clerk-bar", title },
                    parts.map((s) =>
                        t.div({
                            className: "clerk-segment",
                            "html-data-outcome": s.outcome,
                            style: `height: ${(100 * s.counts[i]) / max}%; background: ${color(s.outcome)}`,
                        })
                    ),
                );
            }),
        ),
        t.div(
            { className: "clerk-axis" },
            d.hours.map((hour, i) => t.span(null, i % 6 == 0 ? hourLabel(parseDate(hour)) : "")),
        ),
        t.ul(
            { className: "clerk-legend" },
            d.series.length == 0 ? t.li({ className: "txt-hint" }, "No deliveries in the last 24 hours.") : null,
            d.series.map((s) =>
                t.li(
                    { "html-data-outcome": s.outcome },
                    t.span({ className: "clerk-swatch", style: `background: ${color(s.outcome)}` }),
                    `${s.outcome}${s.status >= 400 ? " (" + s.status + ")" : ""}: `,
                    t.strong(null, String(s.total)),
                )
            ),
        ),
    );
}

function color(outcome) {
    return COLORS[outcome] || "#8a0f2a";
}

function failuresCard(r) {
    if (!r.failures.length) {
        return card("clerk-failures", "Failures", t.p({ className: "txt-hint" }, "No refused or failed delivery recorded."));
    }
    return card(
        "clerk-failures",
        "Failures",
        t.div(
            { className: "table-wrapper" },
            t.table(
                { className: "clerk-table" },
                t.thead(null, t.tr(null, t.th(null, "Last"), t.th(null, "Answer"), t.th(null, "Reason"), t.th(null, "Count"))),
                t.tbody(
                    null,
                    r.failures.map((f) =>
                        t.tr(
                            { "html-data-status": String(f.status) },
                            t.td({ className: "txt-nowrap", title: f.at }, ago(f.ageSeconds)),
                            t.td(
                                { className: "txt-nowrap" },
                                t.span({ className: `label sm ${f.status >= 500 ? "danger" : "warning"}` }, `${f.status} ${f.outcome}`),
                            ),
                            t.td(
                                { className: "clerk-reason" },
                                f.reason,
                                f.svixId ? t.div({ className: "txt-hint txt-sm" }, "svix-id " + f.svixId) : null,
                            ),
                            t.td({ className: "txt-nowrap clerk-count", title: "since " + f.firstAt }, String(f.count)),
                        )
                    ),
                ),
            ),
        ),
    );
}

function recordsCard(r) {
    const c = r.counts;
    const item = (id, label, value) =>
        t.div({ className: "clerk-count", id }, t.div({ className: "clerk-count-value" }, value), t.div({ className: "txt-hint" }, label));
    return card(
        "clerk-records",
        "Records",
        t.div(
            { className: "clerk-counts" },
            item("clerk-clients", "clients", String(c.clients)),
            item("clerk-organizations", "organizations", c.organizations == null ? "–" : String(c.organizations)),
            item("clerk-tombstones", "tombstones", String(c.tombstones)),
        ),
        c.subscriptionItems == null ? null : itemsByStatus(c.subscriptionItems),
    );
}

// itemsByStatus counts Clerk Billing's subscription items in each of
// Clerk's statuses: active, past due and canceled ones (within their
// period) grant their plans' features in rules (the entitlements view).
function itemsByStatus(counts) {
    const total = counts.reduce((sum, s) => sum + s.count, 0);
    return t.div(
        { id: "clerk-items", className: "clerk-items" },
        t.h3({ className: "clerk-items-title" }, "Subscription items by status", t.span({ className: "txt-hint" }, ` (${total})`)),
        t.div(
            { className: "clerk-counts" },
            counts.map((s) =>
                t.div(
                    { className: "clerk-count" + (s.count ? "" : " zero"), id: "clerk-items-" + s.status, "html-data-status": s.status },
                    t.div({ className: "clerk-count-value" }, String(s.count)),
                    t.div({ className: "txt-hint" }, s.status.replaceAll("_", " ")),
                )
            ),
        ),
    );
}

// Replication of data.db (REPLICA_URL): off, or the replica, its lag, the
// last position shipped and the last error.
function replicationCard(r) {
    const rep = r.replication || {};
    if (!rep.enabled) {
        return card(
            "clerk-replication",
            "Replication",
            t.p(
                { className: "txt-hint", id: "clerk-replication-state", "html-data-state": "off" },
                "Off: a lost disk loses every change since the last backup. Set ",
                t.code(null, "REPLICA_URL"),
                " (s3://bucket/path or file:///path) and restart to replicate pb_data/data.db continuously.",
            ),
        );
    }
    const failing = !!rep.failing;
    return card(
        "clerk-replication",
        "Replication",
        t.p(
            { className: "clerk-summary", id: "clerk-replication-state", "html-data-state": failing ? "error" : "ok" },
            t.span({ className: `label sm ${failing ? "danger" : "success"}` }, failing ? "failing" : "on"),
            " Lag ",
            t.strong({ id: "clerk-replication-lag" }, seconds(rep.lagSeconds)),
            ", last position shipped ",
            t.code({ id: "clerk-replication-position" }, rep.position || "none yet"),
            rep.shippedAt ? ` (${ago((Date.now() - parseDate(rep.shippedAt)) / 1000)})` : "",
            ".",
        ),
        t.p(
            { className: "txt-hint txt-sm" },
            "Replica: ",
            t.code({ id: "clerk-replica", style: "word-break: break-all" }, rep.replica),
        ),
        failing
            ? t.div(
                { className: "alert danger", id: "clerk-replication-error" },
                `The store's last answer, ${parseDate(rep.lastErrorAt).toLocaleString()}: ${rep.lastError}. `
                    + "The webhook and the app keep working; the replica catches up once the store answers again.",
            )
            : rep.lastError
            ? t.p(
                { className: "txt-hint txt-sm", id: "clerk-replication-error" },
                `Last error, ${parseDate(rep.lastErrorAt).toLocaleString()} (the store has answered since): ${rep.lastError}`,
            )
            : null,
    );
}

// The work after the webhook's commits (realtime messages, hooks): its
// backlog, and the times the webhook waited for room in it.
function fanOutCard(r) {
    const f = r.fanOut || {};
    // A commit or two waiting for a moment is the normal pace; work 5 s
    // old means a hook or the subscribers are slower than the deliveries.
    const state = f.waitingSeconds > 0 ? "full" : f.oldestSeconds >= 5 ? "behind" : "ok";
    const waits = f.waits == 1 ? "once" : f.waits + " times";
    return card(
        "clerk-fanout",
        "Realtime and hooks after commits",
        t.p(
            { className: "clerk-summary", id: "clerk-fanout-state", "html-data-state": state },
            t.span(
                { className: `label sm ${state == "full" ? "danger" : state == "behind" ? "warning" : "success"}` },
                state == "ok" ? "keeping up" : state,
            ),
            " Waiting: ",
            t.strong({ id: "clerk-fanout-backlog" }, `${f.backlog} of ${f.bound}`),
            " commits",
            f.backlog ? `, the oldest committed ${seconds(f.oldestSeconds)} ago` : "",
            ".",
        ),
        t.p(
            { className: "txt-hint txt-sm", id: "clerk-fanout-waits" },
            f.waitingSeconds > 0
                ? `The webhook has been waiting for room for ${seconds(f.waitingSeconds)}: a hook or realtime subscribers are slow. `
                : "",
            !f.waits
                ? "The webhook has not waited for room since the server started."
                : `The webhook waited for room ${waits} since the server started, last at ${parseDate(f.lastWaitAt).toLocaleString()}`
                    + (f.longestWaitSeconds > 0
                        ? `; the longest wait of the last 24 hours: ${seconds(f.longestWaitSeconds)}, at ${parseDate(f.longestWaitAt).toLocaleString()}.`
                        : "."),
        ),
        t.p(
            { className: "txt-hint txt-sm" },
            "A delivery is answered once committed; realtime messages and your …AfterSuccess hooks follow, in commit order. With ",
            String(f.bound),
            " commits waiting, the webhook waits for room before its next commit.",
        ),
        realtimeConnections(r.realtime || {}),
    );
}

// Where the open realtime connections are served from: PocketBase's broker
// walks its connections at every record change; the index's are asked only
// of their own topics, and a detached one holds less memory.
function realtimeConnections(rt) {
    const open = rt.index ? rt.broker + rt.indexed : rt.broker;
    return t.p(
        { className: "txt-hint txt-sm", id: "clerk-realtime-connections" },
        `Realtime connections: ${open} open`,
        rt.index
            ? `: ${rt.indexed} in the realtime index, ${rt.broker} in PocketBase's broker, ${rt.detached} detached from its connection loop.`
            : `, all in PocketBase's broker and connection loop (CLERK_REALTIME_INDEX=off).`,
    );
}

// seconds says a short time to a tenth of a second, a longer one roughly.
function seconds(s) {
    return s < 10 ? s.toFixed(1) + " s" : duration(s);
}

function syncCard(r, data, startSync) {
    const run = r.lastSync;
    const keyMissing = r.configuration.some((p) => p.variable == "CLERK_SECRET_KEY" && p.name == "Backend API key" && p.state != "ok");
    const busy = data.starting || !!run?.running;
    return card(
        "clerk-sync",
        "clerk sync",
        run ? syncRunView(run) : t.p({ className: "txt-hint", id: "clerk-sync-none" }, "No clerk sync recorded yet."),
        t.div(
            { className: "clerk-actions" },
            t.button(
                {
                    type: "button",
                    id: "clerk-sync-run",
                    className: `btn ${busy ? "loading" : ""}`,
                    disabled: busy || keyMissing,
                    onclick: () => startSync({}),
                },
                t.i({ className: "ri-refresh-line", ariaHidden: true }),
                t.span({ className: "txt" }, "Run clerk sync"),
            ),
            t.button(
                {
                    type: "button",
                    id: "clerk-sync-dry-prune",
                    className: "btn secondary",
                    disabled: busy || keyMissing,
                    onclick: () => startSync({ prune: true, dryRun: true }),
                },
                t.i({ className: "ri-eye-line", ariaHidden: true }),
                t.span({ className: "txt" }, "Dry run of --prune"),
            ),
        ),
        keyMissing
            ? t.p({ className: "txt-hint txt-sm" }, "Set CLERK_SECRET_KEY and restart to run clerk sync from here.")
            : t.p(
                { className: "txt-hint txt-sm" },
                "Deleting for real (--prune, --force) stays on the command line: ./pocketclerk clerk sync --prune",
            ),
    );
}

function syncRunView(run) {
    const c = run.counts || {};
    const flags = (run.prune ? " --prune" : "") + (run.dryRun ? " --dry-run" : "");
    let state;
    if (run.running) {
        state = "running";
    } else if (!run.finishedAt) {
        state = "unfinished";
    } else if (run.dryRun && String(run.error).startsWith("The real prune would stop")) {
        state = "would stop"; // the dry run itself went through
    } else {
        state = run.error ? "failed" : "done";
    }
    const started = parseDate(run.startedAt);
    const finished = run.finishedAt ? parseDate(run.finishedAt) : null;
    return t.div(
        { id: "clerk-sync-last", "html-data-state": state },
        t.p(
            null,
            t.span({ className: `label sm ${{ done: "success", failed: "danger", "would stop": "warning" }[state] || "info"}` }, state),
            " ",
            t.code(null, "clerk sync" + flags),
            ` by ${run.trigger}, started ${started.toLocaleString()}`,
            finished ? `, took ${duration((finished - started) / 1000)}` : "",
            state == "unfinished" ? " — it runs in another process, or was stopped before it finished" : "",
            ".",
        ),
        run.running ? progress(run) : null,
        t.p(
            { id: "clerk-sync-counts" },
            `${c.listed || 0} users listed: ${c.created || 0} created, ${c.updated || 0} updated, `
                + `${c.unchanged || 0} unchanged, ${c.skipped || 0} skipped, ${c.deleted || 0} ${run.dryRun ? "would be deleted" : "deleted"}`
                + (c.failed ? `, ${c.failed} failed` : "")
                + (c.hookFailures ? `; an after-commit hook failed ${c.hookFailures} times (the changes are stored; see Logs)` : "")
                + (run.dryRun ? " (dry run: nothing written)" : ""),
        ),
        c.organizationsSkipped
            ? t.p({ id: "clerk-sync-organizations" }, `Organizations: ${c.organizationsSkipped}.`)
            : null,
        c.notPruned ? t.div({ className: "alert warning", id: "clerk-sync-not-pruned" }, c.notPruned) : null,
        run.error ? t.div({ className: `alert ${state == "would stop" ? "warning" : "danger"}`, id: "clerk-sync-error" }, run.error) : null,
        run.pruned?.length ? prunedTable(run) : null,
    );
}

function progress(run) {
    const total = Math.max(run.total || 0, run.counts?.listed || 0);
    return t.div(
        { className: "clerk-progress", id: "clerk-sync-progress" },
        t.progress({ max: total || 1, value: run.counts?.listed || 0 }),
        t.span({ className: "txt-hint txt-sm" }, total ? `${run.counts?.listed || 0} of ${total} users` : "starting…"),
    );
}

function prunedTable(run) {
    return t.div(
        { className: "table-wrapper" },
        t.table(
            { className: "clerk-table", id: "clerk-pruned" },
            t.caption(null, run.dryRun ? "Clients that --prune would delete" : "Clients deleted"),
            t.thead(null, t.tr(null, t.th(null, "Clerk user"))),
            t.tbody(
                null,
                run.pruned.map((p) =>
                    t.tr(
                        { "html-data-clerk-id": p.clerkId },
                        t.td(
                            { className: "clerk-reason" },
                            run.dryRun
                                ? t.a({ href: `#/collections?collection=clients&recordId=${encodeURIComponent(p.id)}` }, p.clerkId)
                                : p.clerkId,
                        ),
                    )
                ),
            ),
        ),
    );
}

function parseDate(s) {
    return new Date(String(s).replace(" ", "T"));
}

function hourLabel(date) {
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function ago(seconds) {
    return duration(seconds) + " ago";
}

function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) {
        return seconds + " s";
    }
    if (seconds < 3600) {
        return Math.round(seconds / 60) + " min";
    }
    if (seconds < 86400) {
        return Math.round(seconds / 3600) + " h";
    }
    return Math.round(seconds / 86400) + " days";
}
