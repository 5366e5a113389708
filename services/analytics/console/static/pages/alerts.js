/* Alerts inbox (docs/analytics-rules.md#account-managers-alerts): the signed-in account manager's open
 * alerts, newest first, each with its reason, the customer and the events behind it, refreshed every
 * few seconds, with Acknowledge.
 *
 * Reads GET /v1/alerts?account_manager_id=me&state=open (analytics:read; "me" is the token's subject)
 * and acknowledges with POST /v1/alerts/{id}/acknowledge (customers:write, which account managers hold).
 * A team lead may open another manager's inbox by id. Everything is written as text through C360.kit.h.
 */
"use strict";

(function () {
  const kit = window.C360.kit;
  const { h, text, when, shortId, humanize, panel, table, setStatus, api, send, settle, failure, link, problemLines,
    alertBox } = kit;
  const POLL_MS = 5000;

  function provenance(ids) {
    if (!ids.length) return h("span", { class: "muted" }, "the sweep's clock");
    return h("span", { title: ids.join(", ") }, ids.slice(0, 3).map(shortId).join(", ") + (ids.length > 3 ? " …" : ""));
  }

  async function alertsPage(root) {
    document.title = "Alerts · Customer 360";
    const manager = h("input", { id: "alerts-manager", type: "text", value: "me", maxlength: "200",
      "aria-describedby": "alerts-manager-help" });
    const problems = h("div", { id: "alerts-problems" });
    const board = h("div", { id: "alerts-board", "aria-live": "polite" });
    let timer = null;
    let busy = false;

    async function acknowledge(alert, button) {
      button.disabled = true;
      const answer = await send("analytics", "POST", "alerts/" + encodeURIComponent(alert.id) + "/acknowledge", {});
      if (!answer.ok) {
        problems.replaceChildren(alertBox(problemLines(answer)));
        button.disabled = false;
        return;
      }
      problems.replaceChildren();
      setStatus("Acknowledged: " + text(alert.reason));
      await refresh();
    }

    function render(page) {
      const rows = page.items.map((a) => ({ className: "alert-" + a.kind, cells: [
        when(a.raised_at), humanize(a.kind), text(a.reason) + (a.due_on ? " (" + a.due_on + ")" : ""),
        link("/customers/" + a.customer_id, shortId(a.customer_id)), provenance(a.provenance),
        (() => {
          const button = h("button", { type: "button", "data-alert": a.id }, "Acknowledge");
          button.addEventListener("click", () => acknowledge(a, button));
          return button;
        })(),
      ] }));
      board.replaceChildren(table("Open alerts", ["Raised", "Kind", "Reason", "Customer", "Events behind it", ""], rows,
        { empty: "No open alerts. New ones appear here within a few seconds." }));
    }

    async function refresh() {
      if (!root.isConnected) { clearInterval(timer); return; }
      if (busy) return;
      busy = true;
      try {
        const result = await settle(api("analytics", "alerts", { account_manager_id: manager.value.trim() || "me",
          state: "open", limit: 100 }));
        if (!result.ok) {
          board.replaceChildren(failure(result, "Alerts"));
          setStatus("The analytics service refused: " + text(result.error && result.error.message), true);
          return;
        }
        render(result.value);
      } finally {
        busy = false;
      }
    }

    manager.addEventListener("change", refresh);
    root.replaceChildren(
      h("h1", {}, "Alerts"),
      panel("alerts-filter", "Inbox",
        h("div", { class: "field" }, h("label", { for: "alerts-manager" }, "Account manager"), manager,
          h("small", { id: "alerts-manager-help", class: "muted" }, "“me” is you; a team lead may enter a manager's id."))),
      problems,
      panel("alerts-open", "Open alerts (refreshed every " + POLL_MS / 1000 + " s)", board));
    setStatus("Loading…");
    await refresh();
    setStatus("");
    timer = setInterval(refresh, POLL_MS);
  }

  window.C360.addPage({ name: "alerts", label: "Alerts", render: (root) => alertsPage(root) });
})();
