// The profile page. Clerk signs the user in; PocketBase answers the Clerk
// session token with the user's own "clients" record and pushes its
// changes over realtime. Two PocketBase endpoints are used, so plain fetch
// and EventSource do the work: no SDK to vendor, no build step.
"use strict";

// clerk-js 5 bundles the sign-in and user button components.
const clerkScript = (host) => `https://${host}/npm/@clerk/clerk-js@5/dist/clerk.browser.js`;

const statusText = {
  loading: "Loading…",
  "not-configured": "Sign-in is not configured on this server: set CLERK_PUBLISHABLE_KEY (pk_…, from Clerk's dashboard → API Keys) and restart it.",
  "signed-out": "You are signed out. Sign in to see your profile.",
  waiting: "Signed in. Waiting for your profile to sync from Clerk…",
  profile: "",
};

const $ = (id) => document.getElementById(id);

function show(state, text = statusText[state]) {
  document.body.dataset.state = state;
  $("status").textContent = text;
}

function fail(err) {
  console.error(err);
  show("error", `Something went wrong: ${err?.message || err}. Reload the page to try again.`);
}

// loadClerk returns the Clerk object, or null when the server has no
// publishable key.
async function loadClerk() {
  // Already on the page: put there by the host page, or by a test.
  if (window.Clerk) return window.Clerk;

  const res = await fetch("/api/clerk/config");
  if (!res.ok) throw new Error(`the server's Clerk settings could not be read (HTTP ${res.status})`);
  const { publishableKey } = await res.json();
  if (!publishableKey) return null;

  // pk_test_<base64 of "frontend-api-host$">: that host serves clerk-js.
  const host = atob(publishableKey.split("_")[2] || "").replace(/\$$/, "");
  await new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = clerkScript(host);
    script.async = true;
    script.crossOrigin = "anonymous";
    script.dataset.clerkPublishableKey = publishableKey;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`Clerk's browser SDK did not load from ${host}`));
    document.head.append(script);
  });
  return window.Clerk;
}

let shownUser; // the Clerk user id the page is showing; null when signed out
let realtime = null; // the signed-in user's realtime connection
let shownRecord = null;

// onSession follows Clerk's session: sign-in offered when signed out, the
// profile when signed in.
function onSession(clerk) {
  const userId = clerk.user?.id ?? null;
  if (userId === shownUser) return;
  shownUser = userId;
  realtime?.close();
  realtime = null;
  shownRecord = null;

  if (!userId) {
    clerk.unmountUserButton?.($("user-button"));
    show("signed-out");
    clerk.mountSignIn?.($("sign-in"));
    return;
  }
  clerk.unmountSignIn?.($("sign-in"));
  clerk.mountUserButton?.($("user-button"));
  show("loading");
  watchProfile(clerk);
}

// watchProfile subscribes to the user's record, then reads it. PocketBase
// opens each connection, and each reconnection, with PB_CONNECT; the
// subscription comes before the read so that no change falls between them.
// A client that does not exist yet arrives over the same subscription.
function watchProfile(clerk) {
  const authorization = async () => `Bearer ${await clerk.session.getToken()}`;
  const es = new EventSource("/api/realtime");
  realtime = es;
  let deleted = false; // a read still in flight must not bring the profile back

  es.addEventListener("PB_CONNECT", async (ev) => {
    try {
      const { clientId } = JSON.parse(ev.data);
      const res = await fetch("/api/realtime", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: await authorization() },
        body: JSON.stringify({ clientId, subscriptions: ["clients/*"] }),
      });
      if (!res.ok) throw new Error(`live updates could not start (HTTP ${res.status})`);
      const record = await readProfile(authorization);
      if (realtime !== es || deleted) return;
      if (record) render(record);
      else if (!shownRecord) show("waiting");
    } catch (err) {
      if (realtime === es) fail(err);
    }
  });

  es.addEventListener("clients/*", (ev) => {
    const { action, record } = JSON.parse(ev.data);
    if (action === "delete") {
      deleted = true;
      shownRecord = null;
      show("error", "Your profile was deleted in Clerk.");
    } else {
      render(record);
    }
  });
  // On an error EventSource reconnects by itself, and PB_CONNECT follows.
}

// readProfile lists the clients this session may see: its own only. The
// server says whether it took the token; a refused one would otherwise
// look like a profile still waiting for its sync.
async function readProfile(authorization) {
  const res = await fetch("/api/collections/clients/records?perPage=1&skipTotal=1", {
    headers: { Authorization: await authorization() },
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.message || `the profile could not be read (HTTP ${res.status})`);
  if (res.headers.get("PocketClerk-Session") === "refused") {
    throw new Error("the server refused your Clerk session (its CLERK_JWT_KEY, CLERK_SECRET_KEY or CLERK_AUTHORIZED_PARTIES may not match this Clerk app)");
  }
  return body.items?.[0] ?? null;
}

function render(record) {
  // A read that raced a realtime event may be older than what is shown.
  if (shownRecord && record.updated < shownRecord.updated) return;
  shownRecord = record;

  const name = [record.firstName, record.lastName].filter(Boolean).join(" ");
  $("name").textContent = name || record.username || record.email || record.clerkId;
  $("email").textContent = record.email || "—";
  $("phone").textContent = record.phone || "—";
  $("username").textContent = record.username || "—";
  $("clerk-id").textContent = record.clerkId;
  $("public-metadata").textContent = JSON.stringify(record.publicMetadata ?? {}, null, 2);
  $("updated").textContent = record.updated ? new Date(record.updated.replace(" ", "T")).toLocaleString() : "—";

  const avatar = $("avatar");
  avatar.hidden = !record.imageUrl?.startsWith("https://");
  if (!avatar.hidden) avatar.src = record.imageUrl;

  show("profile");
}

async function main() {
  const clerk = await loadClerk();
  if (!clerk) return show("not-configured");
  await clerk.load();
  clerk.addListener?.(() => onSession(clerk));
  onSession(clerk);
}

main().catch(fail);
