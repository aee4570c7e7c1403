// PocketClerk's profile page: the user's organizations and roles, and the
// plans that the user and each organization pay for, live. Cards of
// app.js's profileSections; it shares app.js's globals (classic scripts,
// loaded in order).

// The user's memberships, their organizations and the subscription items
// come over the page's one realtime connection (app.js's watchProfile), on
// the topics organizationTopics names, beside the user's own record: one
// connection per open page, which the server serves from its realtime index
// (hooks/internal/realtimeindex), as every topic is a record topic, and
// which leaves the browser's other connections to this host free.
let memberships = null; // the user's memberships by id; null until read
let organizations = new Map(); // their organizations by id, the newest copy of each
let membershipsError = null; // why they could not be read
// The subscription items the user may read, by id, with their plans: the
// user's own and those of the user's organizations (the collection's rule
// decides). null until read, with the memberships.
let subscriptionItems = null;
let planTimer = null; // re-renders the plans when a canceled item's period ends
let pendingChanges = null; // the changes heard while the latest read is in flight
let organizationsRead = 0; // the latest read's number: an older read's answer is dropped

// resetOrganizations forgets what the cards knew, for another user.
function resetOrganizations() {
  memberships = null;
  organizations = new Map();
  membershipsError = null;
  subscriptionItems = null;
  pendingChanges = null;
  organizationsRead++;
  clearTimeout(planTimer);
}

// organizationTopics are the subscriptions for the memberships,
// organizations and subscription items that clientId may see. The
// memberships' rule also shows the other members of the user's
// organizations: the subscription's filter leaves them out, and so does
// applyChange, whatever the server sends.
function organizationTopics(clientId) {
  const options = { query: { expand: "organization", filter: `client = "${clientId}"` } };
  return [
    `memberships/*?options=${encodeURIComponent(JSON.stringify(options))}`,
    "organizations/*",
    `subscription_items/*?options=${encodeURIComponent(JSON.stringify({ query: { expand: "plan" } }))}`,
  ];
}

// listenToOrganizations applies what es hears on organizationTopics.
function listenToOrganizations(es, clientId) {
  const [membershipsTopic, organizationsTopic, itemsTopic] = organizationTopics(clientId);
  const changed = (change) => {
    if (realtime !== es) return;
    pendingChanges?.push(change);
    if (memberships === null) return; // the read in flight applies it
    applyChange(change, clientId);
    renderOrganizationsCard(true);
    renderPlanCard(true);
  };
  es.addEventListener(membershipsTopic, (ev) => changed({ kind: "membership", ...JSON.parse(ev.data) }));
  es.addEventListener(organizationsTopic, (ev) => changed({ kind: "organization", ...JSON.parse(ev.data) }));
  es.addEventListener(itemsTopic, (ev) => changed({ kind: "item", ...JSON.parse(ev.data) }));
}

// readOrganizations reads the memberships and subscription items of
// clientId once es is subscribed to organizationTopics, and again after
// each reconnection. A failure shows in the cards, and stops nothing else.
async function readOrganizations(es, clientId) {
  if (realtime !== es) return;
  const read = ++organizationsRead;
  const heard = [];
  pendingChanges = heard;
  const latest = () => realtime === es && read === organizationsRead;
  try {
    const [held, items] = await Promise.all([readMemberships(clientId), readSubscriptionItems()]);
    if (!latest()) return;
    const live = memberships !== null; // a reconnection: highlight what changed meanwhile
    memberships = new Map();
    organizations = new Map();
    subscriptionItems = new Map();
    membershipsError = null;
    for (const m of held) applyChange({ action: "create", record: m }, clientId);
    for (const item of items) applyChange({ kind: "item", action: "create", record: item }, clientId);
    // A change heard during the read may or may not be in it: applying
    // it again is harmless, and an older copy is ignored.
    for (const change of heard) applyChange(change, clientId);
    pendingChanges = null;
    renderOrganizationsCard(live);
    renderPlanCard(live);
  } catch (err) {
    if (!latest()) return;
    console.error(err);
    pendingChanges = null;
    if (memberships === null) {
      membershipsError = err;
      renderOrganizationsCard(false);
      renderPlanCard(false);
    }
    // Otherwise what is shown stays; the next reconnection reads again.
  }
}

// readMemberships lists the memberships of clientId, with their organizations.
async function readMemberships(clientId) {
  const items = [];
  for (let page = 1; ; page++) {
    const query = new URLSearchParams({
      filter: `client='${clientId}'`, expand: "organization", perPage: "200", page: String(page), skipTotal: "1",
    });
    const res = await fetch(`/api/collections/memberships/records?${query}`, {
      headers: { Authorization: await authorization() },
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.message || `HTTP ${res.status}`);
    items.push(...list(body.items));
    if (list(body.items).length < 200) return items;
  }
}

// readSubscriptionItems lists the subscription items the user may read, with their plans.
async function readSubscriptionItems() {
  const items = [];
  for (let page = 1; ; page++) {
    const query = new URLSearchParams({ expand: "plan", perPage: "200", page: String(page), skipTotal: "1" });
    const res = await fetch(`/api/collections/subscription_items/records?${query}`, {
      headers: { Authorization: await authorization() },
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.message || `HTTP ${res.status}`);
    items.push(...list(body.items));
    if (list(body.items).length < 200) return items;
  }
}

// applyChange applies a realtime event, or a read, to what the page knows.
// A copy older than the one held is ignored.
function applyChange({ kind = "membership", action, record }, clientId) {
  if (kind === "item") {
    const held = subscriptionItems.get(record.id);
    if (action === "delete") subscriptionItems.delete(record.id);
    else if (!held || record.updated >= held.updated) subscriptionItems.set(record.id, record);
    return;
  }
  if (kind === "organization") {
    if (action === "delete") {
      organizations.delete(record.id);
      for (const [id, m] of memberships) if (m.organization === record.id) memberships.delete(id);
    } else {
      keepOrganization(record);
    }
    return;
  }
  const held = memberships.get(record.id);
  if (action === "delete" || record.client !== clientId) {
    memberships.delete(record.id);
    return;
  }
  if (held && record.updated < held.updated) return;
  memberships.set(record.id, record);
  if (record.expand?.organization) keepOrganization(record.expand.organization);
}

function keepOrganization(org) {
  const held = organizations.get(org.id);
  if (!held || org.updated >= held.updated) organizations.set(org.id, org);
}

function renderOrganizationsCard(live) {
  const body = document.querySelector("#section-organizations .card-body");
  if (body && shownRecord && !profileEnded) renderOrganizations(shownRecord, body, live);
}

// renderOrganizations lists the user's organizations, by name, each with
// its image (its initials when there is none or it fails) and the user's role.
function renderOrganizations(record, body, live) {
  if (memberships === null) {
    const text = membershipsError
      ? `Your organizations could not be loaded (${membershipsError.message}). They will be read again when the connection comes back.`
      : "Loading your organizations…";
    body.replaceChildren(el("p", { class: "empty" }, text));
    return;
  }
  const items = [...memberships.values()]
    .map((m) => {
      const org = organizations.get(m.organization) ?? m.expand?.organization ?? {};
      const plan = planSummary(payerPlan("organization", m.organization));
      return { m, name: org.name || org.slug || m.clerkOrganizationId || "Organization", image: org.imageUrl || "", role: roleLabel(m), plan };
    })
    .sort((a, b) => a.name.localeCompare(b.name) || a.m.id.localeCompare(b.m.id));
  if (!items.length) {
    if (body.querySelector(":scope > .empty")?.id !== "no-organizations") {
      body.replaceChildren(el("p", { class: "empty", id: "no-organizations" }, "You are not a member of any organization."));
    }
    return;
  }
  let ul = body.querySelector(":scope > ul.orgs");
  if (!ul) {
    ul = el("ul", { class: "orgs" });
    body.replaceChildren(ul);
  }
  const held = new Map([...ul.children].map((li) => [li.dataset.id, li]));
  items.forEach(({ m, name, image, role, plan }, i) => {
    let li = held.get(m.id);
    held.delete(m.id);
    if (!li) {
      li = el("li", { "data-id": m.id },
        el("span", { class: "org-logo", "aria-hidden": "true" }, el("span", { class: "org-initials" }), el("img", { alt: "", width: 40, height: 40, hidden: true })),
        el("span", { class: "org-text" },
          el("span", { class: "org-main" },
            el("span", { class: "org-name" }),
            el("span", { class: "org-plan" })),
          el("span", { class: "badge neutral org-role" })));
    }
    const signature = JSON.stringify([name, role, image, plan]);
    if (li.dataset.signature !== signature) {
      li.dataset.signature = signature;
      li.querySelector(".org-name").textContent = name;
      li.querySelector(".org-role").textContent = role;
      const planLine = li.querySelector(".org-plan");
      planLine.textContent = plan ? plan.line : "";
      planLine.dataset.state = plan?.state ?? "";
      li.querySelector(".org-initials").textContent = initialsOf(name);
      setImage(li.querySelector("img"), image);
      if (live) flash(li);
    }
    if (ul.children[i] !== li) ul.insertBefore(li, ul.children[i] ?? null); // moves only what changed place
  });
  for (const li of held.values()) li.remove();
}

// roleLabel is the role's name in Clerk, or a readable form of its key:
// "org:admin" → "Admin", "org:billing_manager" → "Billing manager".
function roleLabel(membership) {
  if (membership.roleName) return membership.roleName;
  return humanize((membership.role || "member").replace(/^org:/, ""));
}

// ---- Plans ---------------------------------------------------------------------

// payerPlan is what the payer (field "client" or "organization", and its
// record id) holds now, as Clerk counts it: the item that grants its plan
// (active or past due first, else canceled within its period), and the
// upcoming item that follows it. null while nothing grants a plan.
function payerPlan(field, payerId, now = Date.now()) {
  let current = null;
  let next = null;
  for (const item of subscriptionItems?.values() ?? []) {
    if (item[field] !== payerId) continue;
    if (item.status === "upcoming" && (!next || item.periodStart < next.periodStart)) next = item;
    const rank = grantRank(item, now);
    if (rank > 0 && (!current || rank > grantRank(current, now) || (rank === grantRank(current, now) && item.periodEnd > current.periodEnd))) {
      current = item;
    }
  }
  return current && { item: current, next };
}

// grantRank orders the items that grant a plan now: 2 active or past due,
// 1 canceled within its period, 0 none (ended, upcoming, incomplete,
// abandoned, or canceled past its period).
function grantRank(item, now) {
  if (item.status === "active" || item.status === "past_due") return 2;
  if (item.status === "canceled" && dateOf(item.periodEnd) > now) return 1;
  return 0;
}

function dateOf(value) {
  const time = value ? new Date(value.replace(" ", "T")).getTime() : NaN;
  return Number.isNaN(time) ? 0 : time;
}

function planName(item) {
  return item.expand?.plan?.name || humanize(item.planSlug || "plan");
}

// planSummary says what a plan is doing: renewing, in its trial, past due,
// or ending (its grace after a cancellation), as a state and a line.
function planSummary(plan) {
  if (!plan) return null;
  const { item, next } = plan;
  const name = planName(item);
  const end = formatDate(item.periodEnd);
  let state = "active";
  let when = item.periodEnd ? `renews on ${end}` : "";
  if (item.status === "past_due") {
    state = "past-due";
    when = "payment past due";
  } else if (item.status === "canceled") {
    state = "ending";
    when = `ends on ${end}` + (next ? `, then ${planName(next)}` : "");
  } else if (item.isFreeTrial) {
    state = "trial";
    when = `free trial until ${end}`;
  } else if (item.expand?.plan && !item.expand.plan.isRecurring) {
    when = "";
  }
  return { name, state, when, line: when ? `${name} plan · ${when}` : `${name} plan` };
}

const planBadges = {
  active: ["Active", "good"],
  trial: ["Free trial", "good"],
  "past-due": ["Past due", "warn"],
  ending: ["Canceled", "warn"],
};

// renderPlanCard renders the user's own plan; the card shows once the user
// has a subscription item, so that a site without Clerk Billing shows none.
function renderPlanCard(live) {
  const card = $("section-plan");
  if (!card || !shownRecord || profileEnded) return;
  card.hidden = !hasOwnItems(shownRecord);
  if (!card.hidden) renderPlan(shownRecord, card.querySelector(".card-body"), live);
  schedulePlanEnd();
}

function hasOwnItems(record) {
  return [...(subscriptionItems?.values() ?? [])].some((item) => item.client === record.id);
}

function renderPlan(record, body, live) {
  if (subscriptionItems === null) return;
  const plan = payerPlan("client", record.id);
  const summary = planSummary(plan);
  if (!summary) {
    rows(body, [["plan", "Plan", "You have no plan at the moment."]], live);
    return;
  }
  const [label, kind] = planBadges[summary.state];
  const entries = [["plan", "Plan", el("span", { class: "plan-name", "data-state": summary.state }, summary.name, " ", badge(label, kind))]];
  const { item, next } = plan;
  if (item.status === "canceled") {
    entries.push(["ends", "Ends on", formatDate(item.periodEnd)]);
    if (next) entries.push(["next", "Then", `${planName(next)}, from ${formatDate(next.periodStart || item.periodEnd)}`]);
  } else if (item.status === "past_due") {
    entries.push(["payment", "Payment", "Past due: update your payment method to keep your plan."]);
  } else if (summary.state === "trial") {
    entries.push(["trial-ends", "Trial ends on", formatDate(item.periodEnd)]);
  } else if (summary.when) {
    entries.push(["renews", "Renews on", formatDate(item.periodEnd)]);
  }
  // Each label has its own key: rows keeps a key's label as first written.
  rows(body, entries, live);
}

// schedulePlanEnd re-renders the plans when the next canceled item's
// period ends: no event announces it.
function schedulePlanEnd() {
  clearTimeout(planTimer);
  const now = Date.now();
  const ends = [...(subscriptionItems?.values() ?? [])]
    .filter((item) => item.status === "canceled" && dateOf(item.periodEnd) > now)
    .map((item) => dateOf(item.periodEnd));
  if (!ends.length) return;
  const wait = Math.min(Math.min(...ends) - now + 50, 2 ** 31 - 1);
  planTimer = setTimeout(() => {
    renderOrganizationsCard(true);
    renderPlanCard(true);
  }, wait);
}
