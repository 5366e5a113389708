/* Customer 360 operations console.
 *
 * One small script, no build step. Every piece of data is written with textContent (through h()),
 * never as HTML, so names such as "<script>alert(1)</script>" render literally. The bearer token is
 * kept in sessionStorage and sent as an Authorization header to the console's same-origin proxy
 * (/console/api/<service>/v1/...), which forwards it to the service: each service decides what the
 * token may see.
 */
"use strict";

(function () {
  const TOKEN_KEY = "c360.console.token";
  const BASE = "/console";
  const SEGMENTS = ["high_value", "loyal", "at_risk", "loss_making", "serial_complainer", "late_payer",
    "deal_seeker", "fraud_flagged"];
  const STAGES = ["discovery", "awareness", "expansion", "commitment", "dissolution"];
  const BANDS = ["low", "medium", "high"];
  const OPEN_STATUSES = ["open", "in_progress", "waiting_customer", "reopened"];
  const charts = [];
  let liveAbort = null;
  let countdownTimer = null;

  // --- DOM helpers (text only) -------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function text(value, fallback) {
    if (value === null || value === undefined || value === "") return fallback === undefined ? "—" : fallback;
    return String(value);
  }

  function when(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function shortId(id) { return id ? String(id).slice(0, 8) : "—"; }

  function humanize(name) { return text(name).replace(/_/g, " "); }

  function badge(label, cls) { return h("span", { class: "badge " + (cls || "") }, humanize(label)); }

  function facts(pairs) {
    return h("dl", { class: "facts" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v instanceof Node ? v : text(v))]));
  }

  function table(caption, headers, rows, options) {
    const opts = options || {};
    const numeric = new Set(opts.numeric || []);
    return h("table", {},
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, headers.map((name, i) => h("th", { scope: "col", class: numeric.has(i) ? "num" : "" }, name)))),
      h("tbody", {}, rows.length ? rows.map((row) => {
        const cells = row.cells || row;
        return h("tr", { class: row.className || "" }, cells.map((cell, i) =>
          h("td", { class: numeric.has(i) ? "num" : "" }, cell instanceof Node ? cell : text(cell))));
      }) : h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, opts.empty || "Nothing yet."))));
  }

  function panel(id, title, ...content) {
    return h("section", { class: "panel", id, "aria-labelledby": id + "-title" }, h("h2", { id: id + "-title" }, title), ...content);
  }

  function setStatus(message, isError) {
    const el = document.getElementById("status");
    el.textContent = message || "";
    el.className = "status" + (isError ? " error" : "");
  }

  function main() { return document.getElementById("main"); }

  // --- auth and API --------------------------------------------------------------------------------

  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  function claims() {
    const raw = token();
    if (!raw) return null;
    try {
      const part = raw.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part + "===".slice((part.length + 3) % 4)));
    } catch (e) {
      return null;
    }
  }

  function selfCustomer() {
    const c = claims();
    return c && c.customer_id ? String(c.customer_id) : null;
  }

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || ("HTTP " + status));
      this.status = status;
    }
  }

  async function api(service, path, params, init) {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (v === null || v === undefined || v === "") continue;
      for (const item of Array.isArray(v) ? v : [v]) query.append(k, item);
    }
    const qs = query.toString();
    const headers = Object.assign({ Accept: "application/json", Authorization: "Bearer " + token() }, (init && init.headers) || {});
    const response = await fetch(BASE + "/api/" + service + "/v1/" + path + (qs ? "?" + qs : ""), Object.assign({}, init, { headers }));
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      navigate("/signin", "Your token was refused or has expired; sign in again.");
      throw new ApiError(401, body);
    }
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  /** A form's write: the answer comes back, problem and all, instead of throwing, so a page can show a
   * 4xx field by field. The body is sent as JSON unless it already is a string or file content. */
  async function send(service, method, path, body, headers) {
    const raw = typeof body === "string" || body instanceof ArrayBuffer || body instanceof Blob;
    const response = await fetch(BASE + "/api/" + service + "/v1/" + path, {
      method,
      headers: Object.assign({ Accept: "application/json", "Content-Type": "application/json",
        Authorization: "Bearer " + token() }, headers || {}),
      body: raw ? body : JSON.stringify(body),
    });
    let payload = null;
    try { payload = await response.json(); } catch (e) { payload = null; }
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      navigate("/signin", "Your token was refused or has expired; sign in again.");
    }
    return { ok: response.ok, status: response.status, body: payload };
  }

  /** The lines of a problem+json answer: its detail, then each invalid field with its message, then the
   * page's hint for the answer's status if it has one (hints: { 403: "Only an admin token can ..." }). */
  function problemLines(answer, hints) {
    const p = answer.body || {};
    const lines = [text(p.detail || p.title, "HTTP " + answer.status)];
    for (const issue of p.errors || []) {
      const where = (issue.loc || []).filter((part) => part !== "body").join(".");
      lines.push((where ? where + ": " : "") + text(issue.msg));
    }
    if (p.field && !(p.errors || []).length) lines.push("field: " + p.field);
    if (hints && hints[answer.status]) lines.push(hints[answer.status]);
    return lines;
  }

  function alertBox(lines) {
    return h("div", { class: "status error", role: "alert" }, h("ul", {}, lines.map((l) => h("li", {}, l))));
  }

  /** The If-Match header of a write to a versioned resource: a change someone made meanwhile answers 412
   * instead of being overwritten. */
  function ifMatch(resource) {
    return { "If-Match": '"' + resource.version + '"' };
  }

  /** write()'s answer, with the form's submit button disabled until it is in: no second submission meanwhile. */
  async function whileDisabled(submit, write) {
    submit.disabled = true;
    const answer = await write();
    submit.disabled = false;
    return answer;
  }

  /** A panel's content from the API (api(service, path)); when it cannot be read, the panel keeps its heading
   * and says "<what> unavailable: <why>", and the answer is null. */
  async function loadPanel(section, what, service, path) {
    try {
      return await api(service, path);
    } catch (error) {
      section.replaceChildren(section.querySelector("h2"),
        h("p", { class: "muted", role: "note" }, what + " unavailable: " + text(error.message)));
      return null;
    }
  }

  /** An .ics import form (the calendars and marketing-policy pages both import holidays): it asks for a file
   * before sending, keeps its button disabled while the upload runs and shows a refused import's problem
   * lines under itself. upload(bytes) sends the file and answers as send() does; imported(answer) runs after
   * a success; options go between the file and the button. */
  function icsForm(attrs, fileId, upload, imported, ...options) {
    const file = h("input", { type: "file", id: fileId, name: "ics", accept: ".ics,text/calendar" });
    const outcome = h("div", { "aria-live": "polite" });
    const submit = h("button", { type: "submit", class: "secondary" }, "Import holidays");
    const onsubmit = async (e) => {
      e.preventDefault();
      outcome.replaceChildren();
      if (!file.files.length) {
        outcome.replaceChildren(alertBox(["Choose an .ics file first."]));
        return;
      }
      const answer = await whileDisabled(submit, async () => upload(await file.files[0].arrayBuffer()));
      if (!answer.ok) {
        outcome.replaceChildren(alertBox(problemLines(answer)));
        return;
      }
      imported(answer);
    };
    return h("form", Object.assign({ class: "search" }, attrs, { onsubmit }),
      h("div", {}, h("label", { for: file.id }, ".ics file"), file), options, h("div", {}, submit), outcome);
  }

  async function settle(promise) {
    try { return { ok: true, value: await promise }; } catch (error) { return { ok: false, error }; }
  }

  function failure(result, what) {
    const status = result.error && result.error.status;
    if (status === 404) return h("p", { class: "muted" }, what + ": nothing known yet.");
    return h("p", { class: "muted", role: "note" }, what + " unavailable: " + text(result.error && result.error.message));
  }

  // --- navigation ----------------------------------------------------------------------------------

  function navigate(path, message) {
    history.pushState({}, "", BASE + path);
    route(message);
  }

  function link(path, label, attrs) {
    return h("a", Object.assign({ href: BASE + path, onclick: (e) => {
      if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
      e.preventDefault();
      navigate(path);
    } }, attrs || {}), label);
  }

  function renderNav(current) {
    const nav = document.getElementById("nav");
    nav.replaceChildren();
    if (!token()) return;
    const me = selfCustomer();
    const items = me ? [["/customers/" + me, "My page", "customer"]] : [
      ["/search", "Customers", "search"], ["/queue", "Service queue", "queue"],
      ["/campaigns", "Campaigns", "campaigns"], ["/kpis", "KPIs", "kpis"],
      ...extraPages.map((p) => ["/" + p.name, p.label, p.name]),
    ];
    const list = h("ul", {}, items.map(([path, label, page]) =>
      h("li", {}, link(path, label, { "aria-current": page === current ? "page" : null }))));
    list.append(h("li", {}, h("button", { type: "button", onclick: async () => {
      sessionStorage.removeItem(TOKEN_KEY);
      // Signed in with the identity provider: end that session too (auth.js redirects there and back).
      if (window.C360Auth && await window.C360Auth.signOut().catch(() => false)) return;
      navigate("/signin", "Signed out.");
    } }, "Sign out")));
    nav.append(list);
  }

  function cleanup() {
    if (liveAbort) { liveAbort.abort(); liveAbort = null; }
    if (countdownTimer) { clearInterval(countdownTimer); countdownTimer = null; }
    while (charts.length) charts.pop().destroy();
  }

  function route(message) {
    cleanup();
    const path = location.pathname.replace(/\/+$/, "").slice(BASE.length) || "/signin";
    const parts = path.split("/").filter(Boolean);
    let page = parts[0] || "signin";
    if (!token() && page !== "signin") page = "signin";
    const me = selfCustomer();
    if (me && page !== "signin" && !(page === "customers" && parts[1] === me)) {
      history.replaceState({}, "", BASE + "/customers/" + me);
      parts.splice(0, parts.length, "customers", me);
      page = "customers";
    }
    renderNav(page === "customers" ? "customer" : page);
    setStatus(message || "");
    main().replaceChildren();
    const pages = { signin: signinPage, search: searchPage, queue: queuePage, campaigns: campaignsPage, kpis: kpiPage };
    for (const extra of extraPages) pages[extra.name] = () => extra.render(main(), parts.slice(1));
    const render = page === "customers" && parts[1] ? () => customerPage(parts[1]) : pages[page] || searchPage;
    Promise.resolve(render()).catch((error) => setStatus(text(error && error.message, "Something went wrong."), true));
    main().focus();
  }

  window.addEventListener("popstate", () => route());

  // --- sign-in -------------------------------------------------------------------------------------

  function signinPage() {
    document.title = "Sign in · Customer 360";
    const signedIn = () => {
      const me = selfCustomer();
      navigate(me ? "/customers/" + me : "/search", "Signed in.");
    };
    const pasteForm = (withHeading) => {
      const area = h("textarea", { id: "token", name: "token", required: true, autocomplete: "off", spellcheck: "false",
        "aria-describedby": "token-help" });
      return h("form", { class: "signin", onsubmit: (e) => {
        e.preventDefault();
        const value = area.value.trim().replace(/^Bearer\s+/i, "");
        if (value.split(".").length !== 3) { setStatus("That does not look like a JWT (three dot-separated parts).", true); return; }
        sessionStorage.setItem(TOKEN_KEY, value);
        signedIn();
      } },
        withHeading ? h("h1", {}, "Sign in") : null,
        h("label", { for: "token" }, "Bearer token"),
        area,
        h("p", { id: "token-help", class: "muted" }, "Paste the admin token printed by make up (or make token). ",
          "A self-service token shows only that customer's own page. The token stays in this browser tab."),
        h("button", { type: "submit", class: "primary" }, "Sign in"));
    };
    // auth.js: the identity provider's sign-in (code + PKCE), and token paste only where it is allowed.
    if (window.C360Auth) return window.C360Auth.signinPage(main(), { h, setStatus, signedIn, pasteForm: () => pasteForm(false) });
    main().append(pasteForm(true));
  }

  // --- customer search -----------------------------------------------------------------------------

  function field(id, label, control) {
    control.id = id;
    control.name = id;
    return h("div", {}, h("label", { for: id }, label), control);
  }

  function choice(options) {
    return h("select", {}, h("option", { value: "" }, "Any"), options.map((o) => h("option", { value: o }, humanize(o))));
  }

  function searchPage() {
    document.title = "Customers · Customer 360";
    const params = new URLSearchParams(location.search);
    const inputs = {
      q: h("input", { type: "search", autocomplete: "off" }),
      email: h("input", { type: "email", autocomplete: "off" }),
      phone: h("input", { type: "tel", autocomplete: "off" }),
      segment: choice(SEGMENTS),
      lifecycle_stage: choice(STAGES),
      churn_band: choice(BANDS),
    };
    for (const [k, el] of Object.entries(inputs)) el.value = params.get(k) || "";
    const results = h("div", { id: "results", "aria-live": "polite" });
    const form = h("form", { class: "search", role: "search", onsubmit: (e) => {
      e.preventDefault();
      const query = new URLSearchParams();
      for (const [k, el] of Object.entries(inputs)) if (el.value.trim()) query.set(k, el.value.trim());
      history.replaceState({}, "", BASE + "/search" + (query.toString() ? "?" + query : ""));
      runSearch(inputs, results);
    } },
      field("q", "Name", inputs.q), field("email", "Email", inputs.email), field("phone", "Phone", inputs.phone),
      field("segment", "Segment", inputs.segment), field("lifecycle_stage", "Lifecycle stage", inputs.lifecycle_stage),
      field("churn_band", "Churn band", inputs.churn_band),
      h("div", {}, h("button", { type: "submit", class: "primary" }, "Search")));
    main().append(h("h1", {}, "Customers"), form, results);
    runSearch(inputs, results);
    inputs.q.focus();
  }

  let searchSeq = 0;

  async function runSearch(inputs, results, cursor, append) {
    // Only the latest search may write its results: an earlier, slower one (the page's first, unfiltered
    // search, say) must not overwrite what the user asked for since.
    const seq = ++searchSeq;
    const v = Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value.trim()]));
    const byTraits = v.segment || v.lifecycle_stage || v.churn_band;
    const byContact = v.email || v.phone;
    setStatus("Searching…");
    let rows = [];
    let next = null;
    try {
      if (byContact || (v.q && !byTraits)) {
        const page = await api("customer", "customers", { q: v.q, email: v.email, phone: v.phone, limit: 25, cursor });
        rows = page.items.map((c) => ({ id: c.id, name: c.name, email: c.email, phone: c.phone, status: c.status }));
        next = page.next_cursor;
        if (byTraits) {
          // Traits live in analytics: keep only the contacts whose 360 matches the filters.
          const views = await Promise.all(rows.map((r) => settle(api("analytics", "customers/" + r.id + "/360"))));
          rows = rows.filter((r, i) => views[i].ok && matchesTraits(views[i].value, v));
        }
      } else {
        const page = await api("analytics", "customers", { segment: v.segment, lifecycle_stage: v.lifecycle_stage,
          churn_band: v.churn_band, q: v.q, limit: 25, cursor });
        next = page.next_cursor;
        rows = page.items.map((c) => ({ id: c.customer_id, name: c.name, status: c.status, stage: c.lifecycle_stage,
          band: c.churn_band, tier: c.value_tier, clv: c.clv, segments: c.segments }));
        // The analytics list carries no contact details: read them from the customer service.
        const profiles = await Promise.all(rows.map((r) => settle(api("customer", "customers/" + r.id))));
        rows.forEach((r, i) => { if (profiles[i].ok) Object.assign(r, { name: profiles[i].value.name, email: profiles[i].value.email, phone: profiles[i].value.phone }); });
      }
    } catch (error) {
      if (seq === searchSeq) setStatus("Search failed: " + error.message, true);
      return;
    }
    if (seq !== searchSeq) return;
    setStatus(rows.length ? "" : "No customer matches.");
    const body = table("Customers found", ["Name", "Email", "Phone", "Status", "Lifecycle", "Churn band", "Tier", "CLV", "Segments"],
      rows.map((r) => [link("/customers/" + r.id, text(r.name, shortId(r.id))), r.email, r.phone, r.status, humanize(r.stage),
        r.band ? badge(r.band, r.band) : "—", r.tier, r.clv, h("span", {}, (r.segments || []).map((s) => badge(s)))]),
      { numeric: [7], empty: "No customer matches." });
    if (!append) results.replaceChildren();
    results.append(body);
    if (next) {
      const more = h("button", { type: "button", class: "secondary", onclick: () => { more.remove(); runSearch(inputs, results, next, true); } }, "More customers");
      results.append(more);
    }
  }

  function matchesTraits(view, v) {
    const stage = view.lifecycle_stage && view.lifecycle_stage.stage;
    const segs = (view.segments || []).map((s) => s.segment);
    return (!v.segment || segs.includes(v.segment)) && (!v.lifecycle_stage || stage === v.lifecycle_stage)
      && (!v.churn_band || (view.risk && view.risk.churn_band) === v.churn_band);
  }

  // --- the 360 page ---------------------------------------------------------------------------------

  function countdown(iso, breached) {
    const el = h("span", { class: "countdown", "data-due": iso || "", "data-breached": breached ? "1" : "" });
    updateCountdown(el);
    return el;
  }

  function updateCountdown(el) {
    const due = el.getAttribute("data-due");
    const breached = el.getAttribute("data-breached") === "1";
    if (!due) { el.textContent = breached ? "Breached" : "no SLA running"; el.classList.toggle("breached", breached); return; }
    const ms = new Date(due).getTime() - Date.now();
    const minutes = Math.round(Math.abs(ms) / 60000);
    const span = minutes >= 1440 ? Math.floor(minutes / 1440) + "d " + Math.floor((minutes % 1440) / 60) + "h"
      : Math.floor(minutes / 60) + "h " + (minutes % 60) + "m";
    const late = ms < 0 || breached;
    el.textContent = late ? "Breached" + (ms < 0 ? " " + span + " ago" : "") : "breaches in " + span;
    el.classList.toggle("breached", late);
  }

  function startCountdowns() {
    if (countdownTimer) clearInterval(countdownTimer);
    countdownTimer = setInterval(() => document.querySelectorAll(".countdown").forEach(updateCountdown), 30000);
  }

  function eventSummary(item) {
    const d = item.data || {};
    const keys = ["subject", "status", "total", "amount", "outstanding", "score", "nps_category", "kind", "offer_code",
      "template", "channel", "reason", "to_agent_id", "agent_id", "segment", "to_stage", "to_band", "root_cause", "days_overdue"];
    return keys.filter((k) => d[k] !== undefined && d[k] !== null && typeof d[k] !== "object")
      .map((k) => humanize(k) + ": " + d[k]).join(" · ");
  }

  async function customerPage(id) {
    document.title = "Customer · Customer 360";
    const root = h("div", { id: "customer-360", "data-customer-id": id });
    const live = h("span", { class: "live off", id: "live-status", role: "status", "aria-live": "polite" }, "Live updates: connecting");
    main().append(root);
    await renderCustomer(id, root, live, false);
    startCountdowns();
    startLive(id, root, live);
  }

  async function renderCustomer(id, root, live, refresh) {
    const eventTypes = (types) => ({ type: types, limit: 50 });
    const [view, profile, orders, tickets, timeline, surveys, offers, billing] = await Promise.all([
      settle(api("analytics", "customers/" + id + "/360")),
      settle(api("customer", selfCustomer() ? "me" : "customers/" + id)),
      settle(api("customer", selfCustomer() ? "me/orders" : "customers/" + id + "/orders", { limit: 100 })),
      settle(api("ticketing", "tickets", { customer_id: id, sort: "due", limit: 100 })),
      settle(api("analytics", "customers/" + id + "/timeline", { limit: 20 })),
      settle(api("analytics", "customers/" + id + "/timeline", eventTypes(["SurveyAnswered"]))),
      settle(api("analytics", "customers/" + id + "/timeline", eventTypes(["OfferSent", "OfferRedeemed"]))),
      settle(api("analytics", "customers/" + id + "/timeline", eventTypes(["PaymentOverdue", "InvoiceIssued", "PaymentReceived"]))),
    ]);
    const v = view.ok ? view.value : null;
    const p = profile.ok ? profile.value : null;
    const prof = (v && v.profile) || {};
    const name = (p && p.name) || prof.name || "Customer " + shortId(id);
    document.title = name + " · Customer 360";

    const header = h("div", { class: "customer-header" },
      h("h1", {}, name),
      h("p", {}, live, " ",
        h("span", { class: "muted" }, v && v.freshness ? "Last event " + when(v.freshness.last_event_at) : "")),
      h("div", { "aria-label": "Status and traits" },
        badge((v && v.status) || (p && p.status) || "unknown"),
        v && v.lifecycle_stage && v.lifecycle_stage.stage ? badge("stage: " + v.lifecycle_stage.stage) : null,
        v && v.value && v.value.value_tier ? badge("tier: " + v.value.value_tier) : null,
        v && v.risk && v.risk.churn_band ? badge("churn " + v.risk.churn_band, v.risk.churn_band) : null,
        (v ? v.segments || [] : []).map((s) => badge(s.segment))));

    const consents = (p && p.consents) || prof.consents || {};
    const profilePanel = panel("profile", "Profile and consents", facts([
      ["Email", (p && p.email) || prof.email], ["Phone", (p && p.phone) || prof.phone],
      ["Birth date", (p && p.birth_date) || prof.birth_date],
      ["Relationship", humanize((p && p.relationship_type) || prof.relationship_type)],
      ["Account manager", (p && p.account_manager_id) || prof.account_manager],
      ["Acquired via", humanize((p && p.acquisition_channel) || prof.acquisition_channel)],
      ["Customer since", when(prof.customer_since || (p && p.registered_at))],
      ["Interests", ((p && p.interests) || prof.interests || []).join(", ")],
      ["Consents", h("span", {}, ["email", "sms", "push", "phone"].map((c) =>
        badge(c + (consents[c] ? " ✓ yes" : " ✗ no"), consents[c] ? "low" : "")))],
    ]), !p && !v ? failure(profile, "Profile") : null);

    let valuePanel;
    if (v) {
      const factors = Object.entries((v.risk && v.risk.factors) || {});
      const stage = v.lifecycle_stage || {};
      valuePanel = panel("value-risk", "Value and risk", facts([
        ["CLV (historic)", v.value && v.value.clv_historic], ["CLV (predicted)", v.value && v.value.clv_predicted],
        ["Value tier", v.value && v.value.value_tier], ["Churn risk", v.risk && v.risk.churn_risk],
        ["Churn band", v.risk && v.risk.churn_band ? badge(v.risk.churn_band, v.risk.churn_band) : "—"],
        ["Lifecycle stage", humanize(stage.stage)], ["Stage rule", stage.rule || stage.reason],
      ]), h("h3", {}, "Risk factors"),
      factors.length ? h("ul", {}, factors.map(([k, val]) => h("li", {}, humanize(k) + ": " + val))) : h("p", { class: "muted" }, "No risk factors."),
      h("h3", {}, "Segments"),
      (v.segments || []).length ? h("ul", {}, v.segments.map((s) => h("li", {}, humanize(s.segment) + (s.since ? " since " + when(s.since) : "")))) : h("p", { class: "muted" }, "In no segment."));
    } else {
      valuePanel = panel("value-risk", "Value and risk", failure(view, "The 360 view"));
    }

    const orderRows = orders.ok ? orders.value.items.slice() : [];
    const pendingFirst = (o) => (o.status === "placed" || o.status === "shipped" ? 0 : 1);
    orderRows.sort((a, b) => pendingFirst(a) - pendingFirst(b) || String(b.placed_at).localeCompare(String(a.placed_at)));
    const ov = (v && v.orders) || null;
    const ordersPanel = panel("orders", "Orders",
      ov ? facts([["Orders", ov.count], ["Total spent", ov.total_spent], ["Average order", ov.average_order_value],
        ["Returns", ov.returns], ["Last order", when(ov.last_order_at)],
        ["Top categories", (ov.top_categories || []).map((c) => c.category).join(", ")]]) : null,
      orders.ok ? table("Orders, pending first", ["Order", "Placed", "Status", "Total", "Items", "Promised"],
        orderRows.map((o) => ({ className: pendingFirst(o) === 0 ? "pending" : "", cells: [shortId(o.id), when(o.placed_at),
          pendingFirst(o) === 0 ? badge(o.status, "medium") : o.status, o.total + " " + text(o.currency, ""),
          (o.lines || []).map((l) => l.quantity + " × " + l.name).join(", "), text(o.promised_delivery_date)] })),
        { numeric: [3], empty: "No orders yet." }) : failure(orders, "Orders"));
    ordersPanel.classList.add("wide");

    const pay = (v && v.payments) || null;
    const billingItems = billing.ok ? billing.value.items : [];
    // An invoice flagged overdue and paid in full since is no longer overdue (the timeline keeps both events).
    const settled = new Set(billingItems.filter((e) => e.type === "PaymentReceived" && Number(e.data.outstanding) === 0)
      .map((e) => e.data.invoice_id));
    const overdue = billingItems.filter((e) => e.type === "PaymentOverdue" && !settled.has(e.data.invoice_id));
    const paymentsPanel = panel("payments", "Payments and invoices",
      pay ? facts([["Invoiced", pay.invoiced], ["Paid", pay.paid], ["Outstanding", pay.outstanding],
        ["Overdue invoices", pay.overdue_count], ["Average days to pay", pay.average_days_to_pay], ["Preferred method", humanize(pay.preferred_method)]]) : failure(view, "Payment summary"),
      h("h3", {}, "Overdue invoices"),
      table("Overdue invoices", ["Invoice", "Due", "Days overdue", "Outstanding"],
        overdue.map((e) => [h("span", { "data-invoice-id": e.data.invoice_id }, shortId(e.data.invoice_id)), text(e.data.due_date),
          text(e.data.days_overdue), text(e.data.outstanding)]), { numeric: [2, 3], empty: "No overdue invoices." }));

    const ticketItems = tickets.ok ? tickets.value.items : [];
    const isOpen = (t) => OPEN_STATUSES.includes(t.status);
    const sortedTickets = ticketItems.slice().sort((a, b) => (isOpen(a) ? 0 : 1) - (isOpen(b) ? 0 : 1)
      || String(a.next_due_at || "9").localeCompare(String(b.next_due_at || "9")));
    const sv = (v && v.service) || null;
    const ticketsPanel = panel("tickets", "Tickets and complaints",
      sv ? facts([["Open tickets", sv.open_tickets], ["Complaints (all / 90 days)", text(sv.complaints_total) + " / " + text(sv.complaints_90d)],
        ["SLA breaches", sv.sla_breaches], ["Transfers", sv.transfers], ["Average resolution (h)", sv.average_resolution_hours]]) : null,
      tickets.ok ? table("Tickets", ["Subject", "Kind", "Status", "Priority", "Owner", "SLA", "Transfers", "Opened"],
        sortedTickets.map((t) => ({ className: t.breached ? "breached-row" : "", cells: [text(t.subject), t.kind === "complaint" ? badge("complaint", "high") : t.kind,
          humanize(t.status), t.priority, text(t.owner_id, "unassigned"), isOpen(t) ? countdown(t.next_due_at, t.breached) : (t.breached ? badge("breached", "breached") : "met"),
          t.transfer_count, when(t.opened_at)] })), { numeric: [6], empty: "No tickets." }) : failure(tickets, "Tickets"));
    ticketsPanel.classList.add("wide");

    const fb = (v && v.feedback) || null;
    const answers = surveys.ok ? surveys.value.items : [];
    const feedbackPanel = panel("feedback", "NPS and CSAT",
      fb ? facts([["Last NPS", fb.last_nps], ["NPS category", fb.nps_category ? badge(fb.nps_category, fb.nps_category) : "—"],
        ["CSAT average", fb.csat_average], ["Surveys", fb.survey_count]]) : null,
      table("Survey answers", ["When", "Survey", "Score", "Category", "Comment"],
        answers.map((e) => [when(e.time), String(e.data.kind || "").toUpperCase(), e.data.score,
          e.data.nps_category ? badge(e.data.nps_category, e.data.nps_category) : "—", text(e.data.comment)]),
        { numeric: [2], empty: surveys.ok ? "No answers yet." : "Survey answers unavailable." }));

    const mk = (v && v.marketing) || null;
    const offerEvents = offers.ok ? offers.value.items : [];
    const offersPanel = panel("offers", "Offers",
      mk ? facts([["Offers received", mk.offers_received], ["Offers redeemed", mk.offers_redeemed],
        ["Suppressed recently", mk.suppressed_recently ? "yes" : "no"]]) : null,
      table("Offers received and redeemed", ["When", "Event", "Code", "Detail"],
        offerEvents.map((e) => [when(e.time), e.type === "OfferRedeemed" ? badge("redeemed", "low") : "sent", text(e.data.offer_code),
          e.type === "OfferRedeemed" ? "order total " + text(e.data.total) : text(e.data.category) + (e.data.discount_pct ? " −" + e.data.discount_pct + "%" : "") + " via " + text(e.data.channel)]),
        { empty: offers.ok ? "No offers yet." : "Offers unavailable." }));

    const recs = v ? v.recommendations || [] : [];
    const recsPanel = panel("recommendations", "Recommendations",
      recs.length ? h("ol", {}, recs.map((r) => h("li", {}, text(r.name || r.sku) + (r.because_of ? " (bought with " + r.because_of + ")" : "")
        + (r.score !== undefined ? " · score " + r.score : "")))) : h("p", { class: "muted" }, v ? "No recommendations yet." : "Recommendations unavailable."));

    const timelineBody = h("tbody", {});
    const timelinePanel = panel("timeline", "Timeline",
      h("table", {}, h("caption", { class: "visually-hidden" }, "Every event, newest first"),
        h("thead", {}, h("tr", {}, ["When", "Domain", "Event", "Detail"].map((n) => h("th", { scope: "col" }, n)))), timelineBody));
    timelinePanel.classList.add("wide");
    const addTimeline = (page) => {
      for (const e of page.items) timelineBody.append(h("tr", { "data-event-id": e.event_id }, h("td", {}, when(e.time)), h("td", {}, e.domain),
        h("td", {}, e.type), h("td", {}, eventSummary(e))));
      if (page.next_cursor) {
        const more = h("button", { type: "button", class: "secondary", onclick: async () => {
          more.disabled = true;
          const r = await settle(api("analytics", "customers/" + id + "/timeline", { limit: 20, cursor: page.next_cursor }));
          more.remove();
          if (r.ok) addTimeline(r.value); else setStatus("Could not load older events: " + r.error.message, true);
        } }, "Older events");
        timelinePanel.append(more);
      }
    };
    if (timeline.ok) addTimeline(timeline.value); else timelinePanel.append(failure(timeline, "The timeline"));

    if (!view.ok && !profile.ok && !orders.ok && view.error && view.error.status === 403) {
      root.replaceChildren(h("h1", {}, "Not allowed"), h("p", {}, "This token may not see this customer."));
      return;
    }
    const layout = h("div", { class: "grid" }, profilePanel, valuePanel, ordersPanel, paymentsPanel, ticketsPanel, feedbackPanel,
      offersPanel, recsPanel, timelinePanel);
    root.replaceChildren(header, layout);
    if (refresh) {
      root.classList.add("flash");
      setTimeout(() => root.classList.remove("flash"), 1600);
    }
  }

  // Live updates: fetch() streaming of the console's SSE endpoint (EventSource cannot send a bearer header).
  function startLive(id, root, live) {
    const controller = new AbortController();
    liveAbort = controller;
    let delay = 1000;
    let refreshing = false;
    let again = false;
    const refresh = async () => {
      if (refreshing) { again = true; return; }
      refreshing = true;
      try { await renderCustomer(id, root, live, true); } finally { refreshing = false; }
      if (again) { again = false; refresh(); }
    };
    const setLive = (on, label) => { live.className = "live " + (on ? "on" : "off"); live.textContent = "Live updates: " + label; };
    const connect = async () => {
      while (!controller.signal.aborted) {
        try {
          const response = await fetch(BASE + "/live/" + encodeURIComponent(id), {
            headers: { Authorization: "Bearer " + token(), Accept: "text/event-stream" }, signal: controller.signal });
          if (!response.ok || !response.body) {
            setLive(false, response.status === 403 ? "not allowed" : "unavailable");
            if (response.status === 401 || response.status === 403) return;
            throw new Error("HTTP " + response.status);
          }
          setLive(true, "on");
          delay = 1000;
          const reader = response.body.getReader();
          const decoder = new TextDecoder();
          let buffer = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += decoder.decode(value, { stream: true });
            let cut;
            while ((cut = buffer.indexOf("\n\n")) >= 0) {
              const chunk = buffer.slice(0, cut);
              buffer = buffer.slice(cut + 2);
              const type = (chunk.match(/^event: (.*)$/m) || [])[1];
              if (type === "changed") refresh();
            }
          }
        } catch (error) {
          if (controller.signal.aborted) return;
        }
        setLive(false, "reconnecting");
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 15000);
      }
    };
    connect();
  }

  // --- service queue ---------------------------------------------------------------------------------

  async function queuePage() {
    document.title = "Service queue · Customer 360";
    main().append(h("h1", {}, "Service queue"), h("p", { class: "muted" }, "Open tickets by owner; what breaches next comes first."));
    const items = [];
    let cursor = null;
    do {
      const page = await api("ticketing", "tickets", { status: OPEN_STATUSES, sort: "due", limit: 200, cursor });
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor && items.length < 1000);
    const byOwner = new Map();
    for (const t of items) {
      const owner = t.owner_id || "unassigned";
      if (!byOwner.has(owner)) byOwner.set(owner, []);
      byOwner.get(owner).push(t);
    }
    const dueKey = (t) => (t.breached ? "0" : "1") + (t.next_due_at || "9999");
    const owners = [...byOwner.entries()].map(([owner, list]) => [owner, list.sort((a, b) => dueKey(a).localeCompare(dueKey(b)))])
      .sort((a, b) => dueKey(a[1][0]).localeCompare(dueKey(b[1][0])));
    const breached = items.filter((t) => t.breached).length;
    main().append(h("div", { class: "tiles" }, tile("Open tickets", items.length), tile("Breached", breached), tile("Owners", owners.length)));
    if (!owners.length) main().append(h("p", {}, "No open tickets."));
    for (const [owner, list] of owners) {
      main().append(panel("owner-" + owner.replace(/[^a-zA-Z0-9_-]/g, "_"), owner + " (" + list.length + ")",
        table("Open tickets of " + owner, ["SLA", "Subject", "Kind", "Priority", "Status", "Customer", "Transfers", "Opened"],
          list.map((t) => ({ className: t.breached ? "breached-row" : "", cells: [
            h("span", {}, t.breached ? badge("breached", "breached") : null, countdown(t.next_due_at, t.breached)),
            text(t.subject), t.kind, t.priority, humanize(t.status), link("/customers/" + t.customer_id, shortId(t.customer_id)),
            t.transfer_count, when(t.opened_at)] })), { numeric: [6] })));
    }
    startCountdowns();
  }

  function tile(label, value) {
    return h("div", { class: "tile" }, h("span", { class: "value" }, text(value)), h("span", { class: "muted" }, label));
  }

  // --- campaigns --------------------------------------------------------------------------------------

  async function campaignsPage() {
    document.title = "Campaigns · Customer 360";
    main().append(h("h1", {}, "Campaigns"));
    const page = await api("campaigns", "campaigns", { limit: 100 });
    const perf = await Promise.all(page.items.map((c) => settle(api("campaigns", "campaigns/" + encodeURIComponent(c.id) + "/performance"))));
    const pct = (x) => (x === null || x === undefined ? "—" : (Number(x) * 100).toFixed(1) + "%");
    main().append(table("Campaign performance", ["Campaign", "Status", "Objective", "Sent", "Suppressed (by reason)", "Held out",
      "Redeemed", "Conv. treated", "Conv. control", "Uplift", "Cost", "Revenue", "ROI"],
    page.items.map((c, i) => {
      const p = perf[i].ok ? perf[i].value : {};
      const suppressed = Object.entries(p.suppressed || {});
      return [c.name, c.status, humanize(c.objective), text(p.sent), suppressed.length ? h("ul", {}, suppressed.map(([k, n]) => h("li", {}, humanize(k) + ": " + n))) : "none",
        text(p.held_out), text(p.redeemed), pct(p.conversion_rate_treated), pct(p.conversion_rate_control),
        p.uplift === null || p.uplift === undefined ? "—" : (Number(p.uplift) * 100).toFixed(1) + " pts", text(p.cost), text(p.attributed_revenue),
        p.roi === null || p.roi === undefined ? "—" : Number(p.roi).toFixed(2)];
    }), { numeric: [3, 5, 6, 7, 8, 9, 10, 11, 12], empty: "No campaigns." }));
  }

  // --- KPI dashboard -----------------------------------------------------------------------------------

  function isoDay(d) { return d.toISOString().slice(0, 10); }

  async function kpiPage() {
    document.title = "KPIs · Customer 360";
    const now = new Date();
    const start = new Date(Date.UTC(now.getUTCFullYear() - 1, now.getUTCMonth(), 1));
    const end = new Date(now.getTime() + 86400000);
    const from = h("input", { type: "date", value: isoDay(start) });
    const to = h("input", { type: "date", value: isoDay(end) });
    const period = choice(["day", "week", "month", "quarter"]);
    period.value = "month";
    const board = h("div", { id: "kpi-board" });
    const form = h("form", { class: "search", onsubmit: (e) => { e.preventDefault(); loadKpis(from.value, to.value, period.value, board); } },
      field("kpi-from", "From", from), field("kpi-to", "To (exclusive)", to), field("kpi-period", "NPS period", period),
      h("div", {}, h("button", { type: "submit", class: "primary" }, "Show")));
    main().append(h("h1", {}, "KPI dashboard"), form, board);
    await loadKpis(from.value, to.value, period.value, board);
  }

  async function loadKpis(fromDay, toDay, period, board) {
    while (charts.length) charts.pop().destroy();
    const range = { from: fromDay + "T00:00:00Z", to: toDay + "T00:00:00Z" };
    const [nps, churn, clv, service] = await Promise.all([
      settle(api("analytics", "kpis/nps", Object.assign({ period }, range))), settle(api("analytics", "kpis/churn", range)),
      settle(api("analytics", "kpis/clv", range)), settle(api("analytics", "kpis/service", range)),
    ]);
    const tiles = h("div", { class: "tiles" },
      tile("NPS", nps.ok ? nps.value.nps : "—"), tile("NPS responses", nps.ok ? nps.value.responses : "—"),
      tile("Avg monthly churn %", churn.ok ? churn.value.average_monthly_churn_rate : "—"),
      tile("Customers acquired", clv.ok ? clv.value.customers : "—"), tile("Average CLV", clv.ok ? clv.value.average : "—"),
      tile("SLA breach rate %", service.ok ? service.value.sla_breach_rate : "—"),
      tile("Transfer rate %", service.ok ? service.value.transfer_rate : "—"),
      tile("First-contact resolution %", service.ok ? service.value.first_contact_resolution_rate : "—"));
    const grid = h("div", { class: "grid" });
    board.replaceChildren(tiles, grid);
    const num = (x) => (x === null || x === undefined ? null : Number(x));
    chartPanel(grid, "chart-nps", "NPS over time", nps, (d) => ({
      type: "line", labels: d.by_period.map((p) => p.period.slice(0, 10)),
      series: [{ label: "NPS", data: d.by_period.map((p) => num(p.nps)) }],
      table: [["Period", "NPS", "Promoters", "Passives", "Detractors"], d.by_period.map((p) => [p.period.slice(0, 10), text(p.nps), p.promoters, p.passives, p.detractors])],
    }));
    chartPanel(grid, "chart-churn", "Churn rate by month (%)", churn, (d) => ({
      type: "bar", labels: d.by_month.map((m) => m.month.slice(0, 7)),
      series: [{ label: "Churn rate %", data: d.by_month.map((m) => num(m.churn_rate) || 0) }],
      table: [["Month", "Active at start", "Churned", "Rate %"], d.by_month.map((m) => [m.month.slice(0, 7), m.active_at_start, m.churned, text(m.churn_rate)])],
    }));
    chartPanel(grid, "chart-clv", "CLV distribution", clv, (d) => {
      const keys = ["p10", "p25", "p50", "p75", "p90"];
      const channels = d.by_acquisition_channel || [];
      return {
        type: "bar", labels: keys.concat(channels.map((c) => "avg " + c.channel)),
        series: [{ label: "CLV", data: keys.map((k) => num(d.percentiles[k])).concat(channels.map((c) => num(c.average))) }],
        table: [["Measure", "CLV"], keys.map((k) => [k, text(d.percentiles[k])]).concat(channels.map((c) => ["average, " + c.channel + " (" + c.customers + ")", text(c.average)]))],
      };
    });
    chartPanel(grid, "chart-service", "Service times (hours)", service, (d) => ({
      type: "bar", labels: ["First response avg", "First response p50", "Resolution avg", "Resolution p50"],
      series: [{ label: "Hours", data: [d.first_response_hours_avg, d.first_response_hours_p50, d.resolution_hours_avg, d.resolution_hours_p50].map(num) }],
      table: [["Measure", "Hours"], [["First response avg", text(d.first_response_hours_avg)], ["First response p50", text(d.first_response_hours_p50)],
        ["Resolution avg", text(d.resolution_hours_avg)], ["Resolution p50", text(d.resolution_hours_p50)],
        ["Top root causes", (d.top_root_causes || []).map((c) => c.root_cause + " (" + c.tickets + ")").join(", ") || "—"]]],
    }));
  }

  function chartPanel(grid, id, title, result, build) {
    const box = h("div", { class: "chart-box" });
    const section = panel(id, title, box);
    grid.append(section);
    if (!result.ok) { box.replaceWith(failure(result, title)); return; }
    const spec = build(result.value);
    const canvas = h("canvas", { role: "img", "aria-label": title + " chart; the same numbers are in the table below" });
    box.append(canvas);
    section.append(h("details", {}, h("summary", {}, "Data table"), table(title, spec.table[0], spec.table[1])));
    if (!window.Chart) { box.replaceChildren(h("p", { class: "muted" }, "Chart library not loaded; see the data table.")); return; }
    charts.push(new window.Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: spec.series.map((s) => Object.assign({ backgroundColor: "#0b57d0", borderColor: "#0b57d0", spanGaps: true }, s)) },
      options: { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { display: false } } },
    }));
    section.setAttribute("data-chart-ready", "true");
  }

  // --- pages in their own files (static/pages/*.js) ----------------------------------------------
  // A page script calls C360.addPage({ name, label, render(root, pathParts) }) and uses C360.kit,
  // the same text-only helpers and API client the built-in pages use. index.html loads the scripts
  // (deferred, after this one), so every page is registered before the first route().

  const extraPages = [];
  window.C360 = Object.freeze({
    kit: Object.freeze({ h, text, when, shortId, humanize, badge, facts, table, panel, setStatus, main, api, settle,
      failure, link, navigate, ApiError, send, problemLines, alertBox, icsForm, ifMatch, whileDisabled, loadPanel }),
    addPage(page) {
      if (!/^[a-z][a-z-]*$/.test(page.name) || typeof page.render !== "function") throw new Error("bad console page");
      extraPages.push({ name: page.name, label: page.label, render: page.render });
    },
  });

  document.addEventListener("DOMContentLoaded", () => route());
})();
