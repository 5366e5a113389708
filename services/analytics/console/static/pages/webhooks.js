/* Webhooks: the platform's outbound HTTP callbacks (docs/webhooks.md, ADR 0010).
 *
 * Every webhook route needs admin. The page lists the subscriptions, creates one (its signing secret is
 * shown once, in the answer that created it, and never again), and for the chosen subscription shows
 * its facts, rotates the secret (shown once too; the old one keeps signing for the grace period),
 * disables or re-enables it, shows its delivery log (attempts, status codes, latency), its dead letters
 * (with redelivery) and its replays, and starts a replay from an instant. The analytics service
 * validates; the page shows its problem+json answers field by field. Text only, through C360.kit.h.
 */
"use strict";

(function () {
  const kit = window.C360.kit;
  const { h, text, when, badge, facts, table, panel, setStatus, api, settle, failure, shortId } = kit;
  const { problemLines, alertBox, ifMatch } = kit;

  /** Writes to the analytics service's webhook routes answer with their problem+json instead of throwing. */
  const send = (method, path, body, headers) => kit.send("analytics", method, "webhooks/" + path, body, headers);

  /** Failing states borrow the console's red badge (``.badge.high``), healthy ones its green (``.badge.low``). */
  const statusBadge = (status) => badge(status, status === "active" || status === "delivered" || status === "done"
    ? "low" : status === "disabled" || status === "dead" || status === "failed" ? "high" : "");

  /** The secret of an answer that carries one: shown here once, with the advice to store it now. */
  function secretNote(answer, what) {
    for (const earlier of document.querySelectorAll("#webhook-secret")) earlier.remove();
    const value = h("code", { id: "webhook-secret-value" }, answer.secret);
    value.style.wordBreak = "break-all";
    return h("div", { class: "status", role: "status", id: "webhook-secret" },
      h("p", {}, what + " Store this signing secret now; it is not shown again:"),
      value,
      answer.previous_secret_valid_until
        ? h("p", { class: "muted" }, "The previous secret keeps signing until " + when(answer.previous_secret_valid_until) + ".")
        : null);
  }

  function lastAttempt(delivery) {
    const log = delivery.attempt_log || [];
    const last = log[log.length - 1];
    if (!last) return "—";
    return (last.status_code === null ? text(last.error, "no answer") : "HTTP " + last.status_code) + " in "
      + Math.round(last.latency_ms) + " ms";
  }

  function deliveryRows(items) {
    return items.map((d) => ({
      className: "delivery-" + d.status,
      cells: [d.event_type, when(d.event_time), statusBadge(d.status), String(d.attempts),
        d.last_status_code === null ? text(d.last_error) : String(d.last_status_code), lastAttempt(d),
        d.status === "pending" ? when(d.next_attempt_at) : when(d.delivered_at || d.dead_at), d.replay_id ? "replay" : "live"],
    }));
  }

  const DELIVERY_COLUMNS = ["Event", "Event time", "Status", "Attempts", "Last status", "Last attempt", "Next / ended", "Source"];

  // --- the chosen subscription ----------------------------------------------------------------------

  async function details(box, id, reloadList) {
    const reload = () => details(box, id, reloadList);
    const outcome = h("div", { "aria-live": "assertive", id: "webhook-outcome" });
    const [sub, deliveries, dead, replays] = await Promise.all([
      settle(api("analytics", "webhooks/subscriptions/" + id)),
      settle(api("analytics", "webhooks/subscriptions/" + id + "/deliveries", { limit: 50 })),
      settle(api("analytics", "webhooks/subscriptions/" + id + "/dead-letters", { limit: 50 })),
      settle(api("analytics", "webhooks/subscriptions/" + id + "/replays", { limit: 20 })),
    ]);
    const title = box.querySelector("h2");
    if (!sub.ok) {
      box.replaceChildren(title, failure(sub, "Subscription"));
      return;
    }
    const s = sub.value;
    title.textContent = "Subscription " + shortId(s.id);
    box.setAttribute("data-subscription", s.id);

    const act = async (button, method, path, body, done) => {
      button.disabled = true;
      const answer = await send(method, path, body, ifMatch(s));
      button.disabled = false;
      if (!answer.ok) {
        outcome.replaceChildren(alertBox(problemLines(answer, {
          412: "The subscription changed meanwhile; it was reloaded.",
        })));
        if (answer.status === 412) await reload();
        return;
      }
      await done(answer.body);
    };

    const rotate = h("button", { type: "button", class: "secondary", onclick: () => act(rotate, "POST",
      "subscriptions/" + s.id + "/secret", null, async (body) => {
        await reload();
        box.querySelector("#webhook-outcome").replaceChildren(secretNote(body, "Secret rotated."));
        setStatus("Signing secret rotated for " + s.url + ".");
        reloadList();
      }) }, "Rotate secret");
    const nextStatus = s.status === "active" ? "disabled" : "active";
    const toggle = h("button", { type: "button", class: "secondary", onclick: () => act(toggle, "PATCH",
      "subscriptions/" + s.id, { status: nextStatus }, async () => {
        setStatus("Subscription " + (nextStatus === "active" ? "enabled" : "disabled") + ": " + s.url + ".");
        await reload();
        reloadList();
      }) }, s.status === "active" ? "Disable" : "Enable");

    const since = h("input", { id: "replay-since", name: "since", type: "text", placeholder: "2026-05-01T00:00:00Z",
      "aria-describedby": "replay-since-help" });
    const replaySubmit = h("button", { type: "submit", class: "secondary" }, "Start replay");
    const replayForm = h("form", { class: "search", id: "replay-form", "aria-label": "Replay from an instant", novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        outcome.replaceChildren();
        replaySubmit.disabled = true;
        const answer = await send("POST", "subscriptions/" + s.id + "/replays", { since: since.value.trim() },
          { "Idempotency-Key": crypto.randomUUID() });
        replaySubmit.disabled = false;
        if (!answer.ok) {
          since.setAttribute("aria-invalid", "true");
          outcome.replaceChildren(alertBox(problemLines(answer)));
          return;
        }
        setStatus("Replay " + shortId(answer.body.id) + " queued from " + answer.body.since + ".");
        await reload();
      } },
      h("div", {}, h("label", { for: since.id }, "Replay every wanted event since"), since,
        h("span", { id: "replay-since-help", class: "muted" }, "An RFC 3339 instant with an offset, not in the future.")),
      h("div", {}, replaySubmit));

    const redeliver = h("button", { type: "button", class: "secondary", onclick: async () => {
      redeliver.disabled = true;
      const answer = await send("POST", "subscriptions/" + s.id + "/dead-letters/redeliver", null);
      redeliver.disabled = false;
      if (!answer.ok) {
        outcome.replaceChildren(alertBox(problemLines(answer)));
        return;
      }
      setStatus(answer.body.requeued + " dead letters put back in line.");
      await reload();
    } }, "Redeliver dead letters");

    const list = (result, what, render) => (result.ok ? render(result.value) : failure(result, what));
    box.replaceChildren(title,
      facts([["URL", s.url], ["Description", text(s.description)], ["Status", statusBadge(s.status)],
        ["Event types", s.event_types.join(", ")], ["Filter", s.filter.length ? JSON.stringify(s.filter) : "none"],
        ["Personal data", s.personal_data ? "sent" : "never sent"], ["Failures in a row", String(s.consecutive_failures)],
        ["Disabled", s.disabled_at ? when(s.disabled_at) + " (" + text(s.disabled_reason) + ")" : "no"],
        ["Previous secret valid until", s.previous_secret_valid_until ? when(s.previous_secret_valid_until) : "—"],
        ["Version", String(s.version)]]),
      h("div", { class: "actions" }, rotate, " ", toggle, " ",
        h("button", { type: "button", class: "secondary", onclick: reload }, "Refresh")),
      outcome,
      h("h3", {}, "Delivery log"),
      h("div", { id: "webhook-deliveries" }, list(deliveries, "Deliveries", (page) =>
        table("Delivery log: each delivery with its attempts", DELIVERY_COLUMNS, deliveryRows(page.items),
          { numeric: [3], empty: "No deliveries yet." }))),
      h("h3", {}, "Dead letters"),
      h("div", { id: "webhook-dead-letters" }, list(dead, "Dead letters", (page) => h("div", {},
        table("Dead letters: deliveries that failed every attempt", DELIVERY_COLUMNS, deliveryRows(page.items),
          { numeric: [3], empty: "No dead letters." }),
        page.items.length ? redeliver : null))),
      h("h3", {}, "Replays"),
      replayForm,
      h("div", { id: "webhook-replays" }, list(replays, "Replays", (page) =>
        table("Replays of this subscription", ["Replay", "Since", "Status", "Events read", "Matched", "Requested", "Finished"],
          page.items.map((r) => ({ className: "replay-" + r.status, cells: [shortId(r.id), r.since, statusBadge(r.status),
            String(r.events_read), String(r.events_matched), when(r.requested_at), r.finished_at ? when(r.finished_at) : text(r.error)] })),
          { numeric: [3, 4], empty: "No replays." }))));
  }

  // --- the list and the new subscription -------------------------------------------------------------

  function createForm(onCreated) {
    const url = h("input", { id: "webhook-url", name: "url", type: "url", placeholder: "https://crm.example.com/hooks/c360" });
    const types = h("input", { id: "webhook-event-types", name: "event_types", type: "text", placeholder: "OrderPlaced, ComplaintFiled",
      "aria-describedby": "webhook-event-types-help" });
    const filter = h("textarea", { id: "webhook-filter", name: "filter", rows: 3, spellcheck: "false",
      "aria-describedby": "webhook-filter-help" });
    filter.value = "[]";
    const personal = h("input", { id: "webhook-personal", name: "personal_data", type: "checkbox" });
    personal.style.width = "auto";
    const description = h("input", { id: "webhook-description", name: "description", type: "text" });
    const errors = h("div", { "aria-live": "assertive" });
    const submit = h("button", { type: "submit", class: "primary" }, "Create subscription");
    return h("form", { class: "search", id: "webhook-create", "aria-label": "New webhook subscription", novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        errors.replaceChildren();
        let conditions;
        try {
          conditions = JSON.parse(filter.value || "[]");
        } catch (error) {
          filter.setAttribute("aria-invalid", "true");
          errors.replaceChildren(alertBox(["The filter is not valid JSON: " + text(error.message)]));
          return;
        }
        filter.removeAttribute("aria-invalid");
        submit.disabled = true;
        const answer = await send("POST", "subscriptions", {
          url: url.value.trim(),
          event_types: types.value.split(",").map((t) => t.trim()).filter(Boolean),
          filter: conditions,
          personal_data: personal.checked,
          description: description.value.trim(),
        }, { "Idempotency-Key": crypto.randomUUID() });
        submit.disabled = false;
        if (!answer.ok) {
          errors.replaceChildren(alertBox(problemLines(answer, { 403: "Only an admin token can manage webhooks." })));
          return;
        }
        setStatus("Webhook subscription created for " + answer.body.url + ".");
        errors.replaceChildren(secretNote(answer.body, "Subscription created."));
        url.value = "";
        types.value = "";
        description.value = "";
        await onCreated(answer.body.id);
      } },
      h("div", {}, h("label", { for: url.id }, "Endpoint URL"), url),
      h("div", {}, h("label", { for: types.id }, "Event types"), types,
        h("span", { id: "webhook-event-types-help", class: "muted" }, "Comma-separated, e.g. OrderPlaced, ComplaintFiled.")),
      h("div", {}, h("label", { for: filter.id }, "Filter (JSON conditions)"), filter,
        h("span", { id: "webhook-filter-help", class: "muted" }, '[{"field": "total", "op": "gte", "value": "100.00"}], or [] for every event.')),
      h("div", {}, h("label", { for: personal.id }, "May receive personal data"), personal),
      h("div", {}, h("label", { for: description.id }, "Description"), description),
      h("div", {}, submit), errors);
  }

  async function render(root) {
    document.title = "Webhooks · Customer 360";
    const listBox = panel("webhook-list", "Subscriptions");
    const createBox = panel("webhook-new", "New subscription");
    const detailBox = panel("webhook-detail", "Subscription");
    for (const box of [listBox, createBox, detailBox]) box.classList.add("wide");
    detailBox.hidden = true;
    root.append(h("h1", {}, "Webhooks"),
      h("p", { class: "muted" }, "Outbound HTTP callbacks for systems that cannot read Kafka: signed (Standard Webhooks), "
        + "at least once, in order per customer, retried with backoff, dead-lettered after the last attempt."),
      h("div", { class: "grid" }, listBox, createBox, detailBox));

    let chosen = null;
    const open = async (id) => {
      chosen = id;
      detailBox.hidden = false;
      await details(detailBox, id, loadList);
      await loadList();
    };
    async function loadList() {
      const title = listBox.querySelector("h2");
      const page = await settle(api("analytics", "webhooks/subscriptions", { limit: 200 }));
      if (!page.ok) {
        listBox.replaceChildren(title, failure(page, "Subscriptions"));
        return;
      }
      listBox.replaceChildren(title, table("Webhook subscriptions", ["Endpoint", "Events", "Status", "Failures in a row", ""],
        page.value.items.map((s) => ({
          className: s.id === chosen ? "selected" : "",
          cells: [s.url, s.event_types.join(", "), statusBadge(s.status), String(s.consecutive_failures),
            h("button", { type: "button", class: "secondary", "aria-label": "Open " + s.url, onclick: () => open(s.id) }, "Open")],
        })), { numeric: [3], empty: "No subscriptions yet." }));
    }
    createBox.append(createForm(open));
    await loadList();
  }

  window.C360.addPage({ name: "webhooks", label: "Webhooks", render });
})();
