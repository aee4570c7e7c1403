// PocketClerk's profile page: the user's organizations and roles, live.
// A card of app.js's profileSections; it shares app.js's globals (classic
// scripts, loaded in order).

// The user's memberships and their organizations come over a realtime
// connection of their own: the card subscribes, reads and reconnects apart
// from the profile's record. The server serves both of the page's
// connections from its realtime index (hooks/session_realtime_index.go).
let orgsRealtime = null;
let memberships = null; // the user's memberships by id; null until read
let organizations = new Map(); // their organizations by id, the newest copy of each
let membershipsError = null; // why they could not be read

// watchOrganizations subscribes to the memberships and organizations that
// clientId may see, then reads its own memberships, as watchProfile does.
// The memberships' rule also shows the other members of the user's
// organizations: the subscription's filter leaves them out, and so does
// applyChange, whatever the server sends.
function watchOrganizations(clientId) {
  const es = new EventSource("/api/realtime");
  orgsRealtime = es;
  const options = { query: { expand: "organization", filter: `client = "${clientId}"` } };
  const membershipsTopic = `memberships/*?options=${encodeURIComponent(JSON.stringify(options))}`;
  let pending = null; // the changes heard while a read is in flight

  const changed = (change) => {
    if (orgsRealtime !== es) return;
    pending?.push(change);
    if (memberships === null) return; // the read in flight applies it
    applyChange(change, clientId);
    renderOrganizationsCard(true);
  };

  es.addEventListener("PB_CONNECT", async (ev) => {
    try {
      await subscribe(JSON.parse(ev.data).clientId, [membershipsTopic, "organizations/*"]);
      pending = [];
      const items = await readMemberships(clientId);
      if (orgsRealtime !== es) return;
      const live = memberships !== null; // a reconnection: highlight what changed meanwhile
      memberships = new Map();
      organizations = new Map();
      membershipsError = null;
      for (const m of items) applyChange({ action: "create", record: m }, clientId);
      // A change heard during the read may or may not be in it: applying
      // it again is harmless, and an older copy is ignored.
      for (const change of pending) applyChange(change, clientId);
      pending = null;
      renderOrganizationsCard(live);
    } catch (err) {
      if (orgsRealtime !== es) return;
      console.error(err);
      pending = null;
      if (memberships === null) {
        membershipsError = err;
        renderOrganizationsCard(false);
      }
      // Otherwise what is shown stays; the next reconnection reads again.
    }
  });
  es.addEventListener(membershipsTopic, (ev) => changed({ kind: "membership", ...JSON.parse(ev.data) }));
  es.addEventListener("organizations/*", (ev) => changed({ kind: "organization", ...JSON.parse(ev.data) }));
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

// applyChange applies a realtime event, or a membership read, to what the
// page knows. A copy older than the one held is ignored.
function applyChange({ kind = "membership", action, record }, clientId) {
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
      return { m, name: org.name || org.slug || m.clerkOrganizationId || "Organization", image: org.imageUrl || "", role: roleLabel(m) };
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
  items.forEach(({ m, name, image, role }, i) => {
    let li = held.get(m.id);
    held.delete(m.id);
    if (!li) {
      li = el("li", { "data-id": m.id },
        el("span", { class: "org-logo", "aria-hidden": "true" }, el("span", { class: "org-initials" }), el("img", { alt: "", width: 40, height: 40, hidden: true })),
        el("span", { class: "org-text" },
          el("span", { class: "org-name" }),
          el("span", { class: "badge neutral org-role" })));
    }
    const signature = JSON.stringify([name, role, image]);
    if (li.dataset.signature !== signature) {
      li.dataset.signature = signature;
      li.querySelector(".org-name").textContent = name;
      li.querySelector(".org-role").textContent = role;
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
