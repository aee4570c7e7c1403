// The profile page. Clerk signs the user in; PocketBase answers the Clerk
// session token with the user's own "clients" record and pushes its
// changes over realtime. Two PocketBase endpoints are used, so plain fetch
// and EventSource do the work: no SDK to vendor, no build step.
"use strict";

// Clerk's browser SDK, pinned: the browser runs the file only if it matches
// the hash. To move to another version, take the hash of
// dist/clerk.browser.js from that version's npm package:
//   npm pack @clerk/clerk-js@VERSION && tar xzf clerk-clerk-js-VERSION.tgz
//   openssl dgst -sha384 -binary package/dist/clerk.browser.js | openssl base64 -A
const clerkJS = {
  version: "5.128.0",
  integrity: "sha384-LHRDhAkzuUtCC23BjnUfCyHTnckclkFVsJ+6INMm96oc9tB1RXrraLiG7QlTWgGa",
};
const clerkScript = (host) => `https://${host}/npm/@clerk/clerk-js@${clerkJS.version}/dist/clerk.browser.js`;

// The fields of clients that Clerk owns (migrations.ClerkFields): the page
// shows them read-only. Every other field is the app's own, and the user
// may edit it here if the collection's update rule lets them.
const clerkFields = new Set([
  "clerkId", "email", "emailVisibility", "verified", "password", "tokenKey",
  "firstName", "lastName", "username", "phone", "imageUrl",
  "emailAddresses", "phoneNumbers", "externalAccounts", "web3Wallets",
  "publicMetadata", "unsafeMetadata", "privateMetadata", "externalId",
  "banned", "locked", "twoFactorEnabled", "passwordEnabled",
  "lastSignInAt", "lastActiveAt", "legalAcceptedAt",
  "clerkCreatedAt", "clerkUpdatedAt", "deletedAt", "clerkUser",
]);
const recordKeys = new Set(["id", "collectionId", "collectionName", "created", "updated", "expand"]);

// How long "waiting for your profile" may take before the page says so
// (a host page may set window.pocketClerkWaitPatience, in milliseconds).
const waitPatience = window.pocketClerkWaitPatience ?? 30_000;

const $ = (id) => document.getElementById(id);

// el builds an element: el("li", {class: "x"}, "text", child, …).
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

// ---- States ----------------------------------------------------------------

// SessionRefused is the server's answer to a Clerk session it did not
// take, with the reason it gave (PocketClerk-Session-Reason).
class SessionRefused extends Error {
  constructor(reason) {
    super(refusedText[reason] || refusedText.unknown);
    this.reason = reason || "unknown";
  }
}

const refusedText = {
  expired: "Your session has expired. Try again, or sign out and sign in again.",
  "unknown-key": "The server refused your session: it does not know the key that signed it, so it is probably set up for another Clerk application (check CLERK_JWT_KEY and CLERK_SECRET_KEY).",
  "not-yet-valid": "The server refused your session: it is dated in the future, so this device's or the server's clock is off. Check the clocks and try again.",
  "bad-signature": "The server refused your session: its signature does not match, so the server is probably set up for another Clerk application (check CLERK_JWT_KEY).",
  "wrong-party": "The server refused your session: this address is not among its allowed origins (add it to CLERK_AUTHORIZED_PARTIES).",
  "not-a-session": "The server refused your session: the token sent is not a Clerk session token.",
  pending: "Your sign-in is not finished yet: complete the remaining step in the sign-in window, then try again.",
  invalid: "The server refused your session: the token is malformed or not issued by Clerk. Sign out and sign in again.",
  banned: "Your account has been suspended. If you think this is a mistake, contact the site's owner.",
  deleted: "This account has been deleted. Sign out to use another one.",
  "not-configured": "The server refused your session: sign-in is not set up on it yet (set CLERK_JWT_KEY or CLERK_SECRET_KEY and restart it).",
  unknown: "The server refused your session. Try again; if it keeps happening, sign out and sign in again.",
};

const statusText = {
  loading: "Loading…",
  "not-configured": "Sign-in is not configured on this server: set CLERK_PUBLISHABLE_KEY (pk_…, from Clerk's dashboard → API Keys) and restart it.",
  "signed-out": "You are signed out. Sign in to see your profile.",
  waiting: "Signed in. Waiting for your profile to sync from Clerk…",
  profile: "",
};

let clerk = null; // Clerk's browser SDK, once loaded
let waitTimer = null;

// show switches the page to state; errors and long waits offer actions.
function show(state, text = statusText[state], { actions = false } = {}) {
  document.body.dataset.state = state;
  $("status").textContent = text;
  $("actions").hidden = !actions;
  $("sign-out").hidden = !clerk?.user || !clerk?.signOut;
  // A deleted account has nothing to try again: signing out leads.
  const signOutFirst = document.body.dataset.reason === "deleted" && !$("sign-out").hidden;
  $("actions").classList.toggle("sign-out-first", signOutFirst);
  $("retry").classList.toggle("secondary", signOutFirst);
  $("sign-out").classList.toggle("secondary", !signOutFirst);
  clearInterval(waitTimer);
  $("wait").hidden = state !== "waiting";
  if (state === "waiting") {
    const since = Date.now();
    const tick = () => {
      const waited = Date.now() - since;
      $("wait-time").textContent = `${Math.round(waited / 1000)} s`;
      if (waited >= waitPatience && $("actions").hidden) {
        $("status").textContent = "This is taking longer than usual: the server has not received your profile from Clerk yet. Try again in a moment; if it keeps waiting, the site's Clerk webhook may not be set up.";
        $("actions").hidden = false;
      }
    };
    tick();
    waitTimer = setInterval(tick, 1000);
  }
}

function fail(err) {
  console.error(err);
  // A read refused because the account was banned or deleted meanwhile ends
  // the profile for good, as the change itself does when it arrives first.
  if (err instanceof SessionRefused && (err.reason === "banned" || err.reason === "deleted")) {
    return endProfile(err.reason, err.message);
  }
  if (err instanceof SessionRefused) {
    document.body.dataset.reason = err.reason;
    return show("error", err.message, { actions: true });
  }
  show("error", `Something went wrong: ${err?.message || err}.`, { actions: true });
}

// ---- Clerk -------------------------------------------------------------------

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
    script.integrity = clerkJS.integrity;
    script.dataset.clerkPublishableKey = publishableKey;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`Clerk's sign-in (clerk-js ${clerkJS.version}) did not load from ${host}. Check your connection and try again`));
    document.head.append(script);
  });
  return window.Clerk;
}

let shownUser; // the Clerk user id the page is showing; null when signed out
let realtime = null; // the signed-in user's realtime connection: its record, organizations and plans
let shownRecord = null;
// A ban or a deletion ends the profile for good: nothing re-renders it,
// not even a read still in flight. Signing in again starts afresh.
let profileEnded = false;

// onSession follows Clerk's session: sign-in offered when signed out, the
// profile when signed in.
function onSession() {
  const userId = clerk.user?.id ?? null;
  renderSession();
  if (userId === shownUser) {
    // The server reads the active organization from the token a realtime
    // subscription was made with: subscribe again with a fresh one.
    const orgId = clerk.organization?.id ?? null;
    if (userId && orgId !== shownOrg && realtime && !profileEnded) {
      shownOrg = orgId;
      stopLive();
      watchProfile();
    }
    return;
  }
  shownUser = userId;
  shownOrg = clerk.organization?.id ?? null;
  stopLive();
  shownRecord = null;
  editableFields = editableFieldsLoading = null; // another user's rule may differ
  profileEnded = false;
  resetOrganizations();
  delete document.body.dataset.reason;

  if (!userId) {
    clerk.unmountUserButton?.($("user-button"));
    show("signed-out");
    clerk.mountSignIn?.($("sign-in"));
    return;
  }
  clerk.unmountSignIn?.($("sign-in"));
  clerk.mountUserButton?.($("user-button"));
  show("loading");
  watchProfile();
}

let shownOrg = null; // the active organization's id that the realtime subscriptions were made with

// renderSession shows what the Clerk session says beside the profile, as
// the server's rules read it: the active organization, and who
// impersonates the user (Clerk's "act" claim).
function renderSession() {
  const org = clerk.organization;
  $("active-org").hidden = !org;
  $("active-org-name").textContent = org ? org.name || org.slug || org.id : "";
  const actor = clerk.session?.actor;
  $("impersonation").hidden = !actor;
  $("impersonator").textContent = actor ? actor.sub || "someone" : "";
}

const authorization = async () => `Bearer ${await clerk.session.getToken()}`;

// watchProfile opens the page's one realtime connection: the user's record,
// then, once its id is known, the organizations' topics beside it
// (organizations.js). PocketBase opens each connection, and each
// reconnection, with PB_CONNECT; the subscription comes before the reads so
// that no change falls between them. A client that does not exist yet
// arrives on "clients/*"; once its id is known the connection listens to
// "clients/<id>" and the organizations' topics alone, which the server
// serves from an index of such connections instead of visiting each
// connection on every change.
function watchProfile() {
  const es = new EventSource("/api/realtime");
  realtime = es;
  let clientId = "";
  let own = ""; // the user's record id, once known

  const topics = () => (own ? [`clients/${own}`, ...organizationTopics(own)] : ["clients/*"]);
  const live = (promise) => promise.catch((err) => {
    if (realtime === es) {
      stopLive();
      fail(err);
    }
  });
  const onClient = (ev) => {
    const { action, record } = JSON.parse(ev.data);
    if (action === "delete") return endProfile("deleted", deletedText);
    showRecord(record);
    if (!own && realtime === es) live(listenToOwn(record));
  };
  // listen adds the handlers of the record's own topics, once per connection.
  const listen = (id) => {
    own = id;
    es.addEventListener(`clients/${id}`, onClient);
    listenToOrganizations(es, id);
  };
  // resubscribe sends the connection's topics as they are when it goes,
  // after any subscription still in flight: the server keeps the last one
  // it gets, which must be the newest.
  let sending = Promise.resolve();
  const resubscribe = () => {
    const sent = sending.then(() => subscribe(clientId, topics()));
    sending = sent.catch(() => {});
    return sent;
  };
  // listenToOwn moves the connection to the record's own topics; a read
  // after the move catches a change made while it happened.
  const listenToOwn = async (record) => {
    const id = clientId;
    listen(record.id);
    try {
      await resubscribe();
    } catch (err) {
      if (id !== clientId) return; // reconnected meanwhile: PB_CONNECT subscribes to them
      throw err;
    }
    if (realtime !== es) return;
    readOrganizations(es, own);
    const again = await readProfile();
    if (realtime === es && again) showRecord(again);
  };
  es.addEventListener("clients/*", onClient);
  if (shownRecord) listen(shownRecord.id); // the same user again, with a fresh token

  es.addEventListener("PB_CONNECT", (ev) => live((async () => {
    clientId = JSON.parse(ev.data).clientId;
    const subscribed = own;
    await resubscribe();
    if (subscribed && realtime === es) readOrganizations(es, subscribed);
    const record = await readProfile();
    if (realtime !== es) return; // closed meanwhile: ended, or another user
    if (record) showRecord(record);
    else if (!shownRecord) show("waiting");
    if (record && !own && realtime === es) await listenToOwn(record);
  })()));
  // On an error EventSource reconnects by itself, and PB_CONNECT follows.
}

const deletedText = "Your profile was deleted in Clerk. Sign out to use another account.";

// showRecord shows the user's record, unless it says that the user may no
// longer sign in. The server sends a banned client its ban, and an
// anonymized one (deleted in Clerk, its record kept) its cleared record
// with deletedAt, then signs their connections out.
function showRecord(record) {
  if (record.banned) endProfile("banned", refusedText.banned);
  else if (record.deletedAt) endProfile("deleted", deletedText);
  else render(record);
}

// endProfile replaces the profile with why it ended, for good: the live
// updates stop, and "Try again" asks the server afresh.
function endProfile(reason, text) {
  stopLive();
  profileEnded = true;
  shownRecord = null;
  document.body.dataset.reason = reason;
  show("error", text, { actions: true });
}

// stopLive closes the realtime connection; the handlers of a closed one
// see that it is no longer current and drop what they were doing.
function stopLive() {
  realtime?.close();
  realtime = null;
}

// subscribe sets the topics of a realtime connection, signed in as the user.
async function subscribe(clientId, subscriptions) {
  const res = await fetch("/api/realtime", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: await authorization() },
    body: JSON.stringify({ clientId, subscriptions }),
  });
  if (!res.ok) throw new Error(`live updates could not start (HTTP ${res.status})`);
}

// readProfile lists the clients this session may see: its own only. The
// server says whether it took the token, and if not, why; a refused one
// would otherwise look like a profile still waiting for its sync.
async function readProfile() {
  const res = await fetch("/api/collections/clients/records?perPage=1&skipTotal=1", {
    headers: { Authorization: await authorization() },
  });
  const body = await res.json().catch(() => ({}));
  if (res.headers.get("PocketClerk-Session") === "refused") {
    throw new SessionRefused(res.headers.get("PocketClerk-Session-Reason"));
  }
  if (!res.ok) throw new Error(body.message || `the profile could not be read (HTTP ${res.status})`);
  return body.items?.[0] ?? null;
}

// ---- The profile ---------------------------------------------------------------

// profileSections are the cards under the name, in order. Each renders
// into its own card's body; `when` hides the card when it has nothing to
// show. A feature adds a card by adding an entry here.
const profileSections = [
  { id: "contact", title: "Contact", render: renderContact },
  { id: "plan", title: "Plan", render: renderPlan, when: hasOwnItems },
  { id: "details", title: "About you", render: renderDetails, when: (r) => ownerFields(r).length > 0 },
  { id: "organizations", title: "Organizations", render: renderOrganizations },
  { id: "sign-in-methods", title: "Sign-in methods", render: renderSignInMethods },
  { id: "metadata", title: "Profile data", render: renderMetadata, when: (r) => hasEntries(r.publicMetadata) || hasEntries(r.unsafeMetadata) },
  { id: "account", title: "Account", render: renderAccount },
];

function render(record) {
  if (profileEnded) return;
  // A read that raced a realtime event may be older than what is shown.
  if (shownRecord && record.updated < shownRecord.updated) return;
  const live = shownRecord !== null; // a change to a profile on screen: highlight it
  shownRecord = record;

  const name = [record.firstName, record.lastName].filter(Boolean).join(" ");
  const primaryEmail = record.email || list(record.emailAddresses).find((e) => e.primary)?.emailAddress || "";
  const heading = name || record.username || primaryEmail || record.phone || "Your profile";
  setText($("name"), heading, live);
  const subtitle = heading === name && record.username ? `@${record.username}` : heading === primaryEmail ? "" : primaryEmail;
  setText($("subtitle"), subtitle, live);
  renderAvatar(record, heading);

  const container = $("sections");
  for (const section of profileSections) {
    let card = $(`section-${section.id}`);
    if (!card) {
      card = el("section", { class: "card", id: `section-${section.id}`, "aria-labelledby": `section-${section.id}-title` },
        el("h2", { id: `section-${section.id}-title` }, section.title),
        el("div", { class: "card-body" }));
      container.append(card);
    }
    card.hidden = section.when ? !section.when(record) : false;
    if (!card.hidden) section.render(record, card.querySelector(".card-body"), live);
  }
  show("profile");
}

// setText sets a value and, when it changed on a live update, highlights it.
function setText(node, text, live) {
  if (node.textContent === text) return;
  node.textContent = text;
  if (live) flash(node);
}

function flash(node) {
  node.classList.remove("changed");
  void node.offsetWidth; // restart the animation
  node.classList.add("changed");
}

function renderAvatar(record, heading) {
  $("initials").textContent = initialsOf(heading);
  setImage($("avatar"), record.imageUrl);
}

// initialsOf is the first letters of a name's first and last words ("Ada
// Lovelace": AL), or a one-word name's first two letters ("Globex": GL).
function initialsOf(name) {
  const words = name.split(/\s+/).map((w) => w.match(/\p{L}/gu)).filter(Boolean);
  if (words.length === 0) return "?";
  const letters = words.length === 1 ? words[0].slice(0, 2) : [words[0][0], words[words.length - 1][0]];
  return letters.join("").toUpperCase();
}

// setImage shows url in img once it has loaded; until then, without one,
// or when it fails, img stays hidden and the initials beneath it show.
function setImage(img, url) {
  if (!url?.startsWith("https://")) {
    img.hidden = true;
    img.removeAttribute("src");
    return;
  }
  if (img.getAttribute("src") !== url) {
    img.hidden = true;
    img.onload = () => { img.hidden = false; };
    img.onerror = () => { img.hidden = true; }; // the initials stay
    img.src = url;
  }
}

// rows renders label/value pairs; a value is text or a node. Each value
// keeps its key so that a live change to it is highlighted.
function rows(body, entries, live) {
  let dl = body.querySelector(":scope > dl");
  if (!dl) dl = body.appendChild(el("dl", { class: "rows" }));
  const seen = new Set();
  for (const [key, label, value] of entries) {
    seen.add(key);
    let dd = dl.querySelector(`dd[data-key="${key}"]`);
    if (!dd) {
      dl.append(el("dt", { "data-key": key }, label));
      dd = dl.appendChild(el("dd", { "data-key": key }));
    }
    const next = value instanceof Node ? value : document.createTextNode(value || "—");
    const before = dd.innerHTML;
    dd.replaceChildren(next);
    if (live && before !== dd.innerHTML) flash(dd);
  }
  for (const node of dl.querySelectorAll("[data-key]")) {
    if (!seen.has(node.dataset.key)) node.remove();
  }
}

function badge(text, kind) {
  return el("span", { class: `badge ${kind}` }, text);
}

function renderContact(record, body, live) {
  let emails = primaryFirst(list(record.emailAddresses));
  if (!emails.length && record.email) emails = [{ emailAddress: record.email, verified: record.verified, primary: true }];
  let phones = primaryFirst(list(record.phoneNumbers));
  if (!phones.length && record.phone) phones = [{ phoneNumber: record.phone, primary: true }];

  const emailList = emails.length
    ? el("ul", { class: "values" }, ...emails.map((e) => el("li", {},
      el("span", { class: "value" }, e.emailAddress),
      e.primary && emails.length > 1 ? badge("Primary", "neutral") : null,
      e.verified ? badge("Verified", "good") : badge("Not verified", "warn"))))
    : null;
  const phoneList = phones.length
    ? el("ul", { class: "values" }, ...phones.map((p) => el("li", {},
      el("span", { class: "value" }, p.phoneNumber),
      p.primary && phones.length > 1 ? badge("Primary", "neutral") : null,
      p.verified === false ? badge("Not verified", "warn") : null)))
    : null;
  // Only what the user has; an email row in any case, so the card is never empty.
  rows(body, [
    ["email", emails.length > 1 ? "Emails" : "Email", emailList],
    phoneList && ["phone", phones.length > 1 ? "Phones" : "Phone", phoneList],
    record.username && ["username", "Username", record.username],
  ].filter(Boolean), live);
}

// primaryFirst orders a list of identifiers with the primary one on top.
function primaryFirst(items) {
  return [...items].sort((a, b) => Number(Boolean(b.primary)) - Number(Boolean(a.primary)));
}

const providerNames = { google: "Google", github: "GitHub", microsoft: "Microsoft", apple: "Apple", facebook: "Facebook", discord: "Discord", gitlab: "GitLab", linkedin_oidc: "LinkedIn", linkedin: "LinkedIn", x: "X", twitter: "X", slack: "Slack" };

function providerName(provider = "") {
  const [kind, ...rest] = provider.split("_");
  const name = rest.join("_");
  if (kind === "oauth") return providerNames[name] || name;
  if (kind === "saml" || kind === "oidc") return `Single sign-on (${providerNames[name] || name || kind})`;
  return provider;
}

function renderSignInMethods(record, body, live) {
  const methods = [];
  for (const a of list(record.externalAccounts)) {
    methods.push(el("li", {}, el("span", { class: "value" }, providerName(a.provider)),
      a.emailAddress || a.username ? el("span", { class: "muted" }, a.emailAddress || a.username) : null));
  }
  for (const w of list(record.web3Wallets)) {
    const short = w.web3Wallet.length > 14 ? `${w.web3Wallet.slice(0, 6)}…${w.web3Wallet.slice(-4)}` : w.web3Wallet;
    methods.push(el("li", {}, el("span", { class: "value", title: w.web3Wallet }, `Wallet ${short}`),
      w.verified ? null : badge("Not verified", "warn")));
  }
  if (record.passwordEnabled) methods.push(el("li", {}, el("span", { class: "value" }, "Password")));
  rows(body, [
    ["methods", "Signs in with", methods.length ? el("ul", { class: "values" }, ...methods) : "Email or phone code"],
    ["two-factor", "Two-step verification", record.twoFactorEnabled ? badge("On", "good") : "Off"],
  ], live);
}

function renderMetadata(record, body, live) {
  const entries = [];
  for (const [source, data] of [["public", record.publicMetadata], ["unsafe", record.unsafeMetadata]]) {
    for (const [k, v] of Object.entries(isObject(data) ? data : {})) {
      entries.push([`${source}.${k}`, humanize(k), typeof v === "string" ? v : el("code", {}, JSON.stringify(v))]);
    }
  }
  rows(body, entries, live);
}

function renderAccount(record, body, live) {
  rows(body, [
    ["since", "Member since", formatDate(record.clerkCreatedAt)],
    ["last-sign-in", "Last signed in", formatDate(record.lastSignInAt, true)],
    ["clerk-id", "Clerk user", el("code", { id: "clerk-id" }, record.clerkId)],
    ["updated", "Last synced", formatDate(record.updated, true)],
  ], live);
}

// ---- The app's own fields, editable in place ----------------------------------

function ownerFields(record) {
  return Object.keys(record).filter((k) => !clerkFields.has(k) && !recordKeys.has(k) &&
    ["string", "number", "boolean"].includes(typeof record[k]));
}

// editableFields maps each owner field to whether the clients update rule
// lets this user change it (GET /api/clerk/editable-fields); null until
// known. A field the server does not name stays editable, as before.
let editableFields = null;
let editableFieldsLoading = null;

function canEdit(key) {
  return !editableFields || editableFields[key] !== false;
}

function loadEditableFields() {
  editableFieldsLoading ??= (async () => {
    try {
      const res = await fetch("/api/clerk/editable-fields", { headers: { Authorization: await authorization() } });
      editableFields = res.ok ? (await res.json()).fields || {} : {};
    } catch {
      editableFields = {};
    }
  })();
  return editableFieldsLoading;
}

function renderDetails(record, body) {
  let form = body.querySelector("form");
  if (!form) {
    form = el("form", { class: "details", novalidate: true },
      el("div", { class: "fields" }),
      el("div", { class: "form-actions" },
        el("button", { type: "submit", disabled: true }, "Save"),
        el("span", { class: "form-status", role: "status", "aria-live": "polite" })));
    form.addEventListener("input", () => {
      form.dataset.dirty = "true";
      form.querySelector("button[type=submit]").disabled = false;
      form.querySelector(".form-status").textContent = "";
    });
    form.addEventListener("submit", (ev) => { ev.preventDefault(); saveDetails(form); });
    body.append(form);
  }
  if (!editableFields) {
    loadEditableFields().then(() => shownRecord && renderDetails(shownRecord, body));
    return;
  }
  // A live update does not overwrite what the user is typing.
  if (form.dataset.dirty === "true") return;
  const fields = form.querySelector(".fields");
  const keys = ownerFields(record);
  const layout = keys.map((k) => (canEdit(k) ? k : `${k}:read-only`)).join(",");
  if (fields.dataset.keys !== layout) {
    fields.replaceChildren(...keys.map((k) => (canEdit(k) ? fieldInput(k, record[k]) : fieldReadOnly(k))));
    fields.dataset.keys = layout;
    form.querySelector(".form-actions").hidden = !keys.some(canEdit);
  }
  for (const k of keys) {
    if (!canEdit(k)) {
      $(`field-${k}`).textContent = readOnlyValue(record[k]);
      continue;
    }
    const input = form.elements.namedItem(k);
    if (input.type === "checkbox") input.checked = record[k];
    else input.value = record[k];
  }
}

// fieldReadOnly shows a field that the update rule does not let the user change.
function fieldReadOnly(key) {
  const id = `field-${key}`;
  return el("div", { class: "field read-only", title: "Set by this site: you cannot change it here" },
    el("span", { class: "field-label" }, humanize(key)),
    el("p", { class: "field-value", id }));
}

function readOnlyValue(value) {
  if (typeof value === "boolean") return value ? "Yes" : "No";
  if (typeof value === "string" && /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/.test(value)) return formatDate(value, true);
  return value === "" || value === null || value === undefined ? "—" : String(value);
}

function fieldInput(key, value) {
  const id = `field-${key}`;
  let input;
  if (typeof value === "boolean") {
    input = el("input", { type: "checkbox", id, name: key });
    return el("div", { class: "field check" }, input, el("label", { for: id }, humanize(key)));
  }
  if (typeof value === "number") input = el("input", { type: "number", id, name: key, step: "any" });
  else if (value.length > 60 || /bio|about|description|note/i.test(key)) input = el("textarea", { id, name: key, rows: 3 });
  else input = el("input", { type: "text", id, name: key });
  return el("div", { class: "field" }, el("label", { for: id }, humanize(key)), input, el("p", { class: "field-error", id: `${id}-error` }));
}

async function saveDetails(form) {
  const status = form.querySelector(".form-status");
  const button = form.querySelector("button[type=submit]");
  const data = {};
  for (const k of ownerFields(shownRecord).filter(canEdit)) {
    const input = form.elements.namedItem(k);
    data[k] = input.type === "checkbox" ? input.checked : input.type === "number" ? Number(input.value) : input.value;
  }
  button.disabled = true;
  status.textContent = "Saving…";
  form.querySelectorAll(".field-error").forEach((p) => { p.textContent = ""; });
  try {
    const res = await fetch(`/api/collections/clients/records/${shownRecord.id}`, {
      method: "PATCH",
      headers: { "Content-Type": "application/json", Authorization: await authorization() },
      body: JSON.stringify(data),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      for (const [k, e] of Object.entries(body.data || {})) {
        const p = $(`field-${k}-error`);
        if (p) p.textContent = e.message;
      }
      const denied = res.status === 403 || res.status === 404;
      throw new Error(denied ? "This site does not let you edit these fields." : body.message || `HTTP ${res.status}`);
    }
    delete form.dataset.dirty;
    status.textContent = "Saved";
    render(body);
  } catch (err) {
    status.textContent = `Not saved: ${err.message}`;
    button.disabled = false;
  }
}

// ---- Helpers -------------------------------------------------------------------

function list(v) {
  return Array.isArray(v) ? v : [];
}

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function hasEntries(v) {
  return isObject(v) && Object.keys(v).length > 0;
}

// humanize turns a field or metadata key into a label: "jobTitle" → "Job title".
function humanize(key) {
  const words = key.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/[_-]+/g, " ").trim().toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

// formatDate shows a PocketBase date ("2024-05-28 08:00:00.000Z").
function formatDate(value, withTime = false) {
  if (!value) return "—";
  const d = new Date(value.replace(" ", "T"));
  if (Number.isNaN(d.getTime())) return "—";
  return withTime
    ? d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" })
    : d.toLocaleDateString(undefined, { dateStyle: "long" });
}

// ---- Start -----------------------------------------------------------------------

$("retry").addEventListener("click", () => {
  if (!clerk) return location.reload();
  shownUser = undefined;
  onSession();
});
$("sign-out").addEventListener("click", async () => {
  try {
    await clerk.signOut();
  } finally {
    onSession();
  }
});

async function main() {
  clerk = await loadClerk();
  if (!clerk) return show("not-configured");
  await clerk.load();
  clerk.addListener?.(() => onSession());
  onSession();
}

main().catch(fail);
