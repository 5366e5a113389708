/* Notes and follow-ups (issue 21.1), both owned by the customer service.
 *
 * 1. "My follow-ups": the signed-in person's open and snoozed follow-ups, due first, with Complete,
 *    Snooze (a day or a week from now) and Cancel. Reads GET /v1/follow-ups?owner=<subject> (the
 *    subject from GET /v1/session), acts with POST /v1/follow-ups/{id}/complete|snooze|cancel and
 *    If-Match with the version shown, so a follow-up someone else changed meanwhile is a 412, not lost.
 * 2. The 360 page's "Notes" panel: the customer's notes, newest first, with their follow-ups, and a form
 *    to write one (optionally with a follow-up). console.js is not this file's to change, so the panel
 *    is added to the 360 page's grid whenever that page renders it (a MutationObserver), and the
 *    notes are fetched then (GET /v1/customers/{id}/notes, a read of personal data the service records).
 * Everything is written as text through C360.kit.h.
 */
"use strict";

(function () {
  const kit = window.C360.kit;
  const { h, text, when, shortId, humanize, panel, table, setStatus, api, send, settle, failure, link, problemLines,
    alertBox, badge } = kit;

  let session = null;
  async function whoAmI() {
    if (!session) {
      const answer = await settle(api("customer", "session"));
      if (!answer.ok) return null;
      session = answer.value;
    }
    return session;
  }

  function idempotencyKey() {
    return window.crypto && window.crypto.randomUUID ? window.crypto.randomUUID()
      : "note-" + Date.now() + "-" + Math.random().toString(16).slice(2);
  }

  function followUpSummary(f) {
    if (!f) return "—";
    return h("span", { "data-follow-up": f.id }, badge(f.state, f.state === "open" ? "medium" : ""), " ",
      text(f.owner) + " · due " + when(f.due_at));
  }

  // --- My follow-ups --------------------------------------------------------------------------------

  async function followUpsPage(root) {
    document.title = "My follow-ups · Customer 360";
    const problems = h("div", { id: "followups-problems" });
    const board = h("div", { id: "followups-board", "aria-live": "polite" });
    root.replaceChildren(h("h1", {}, "My follow-ups"), problems, panel("followups-open", "Open follow-ups, due first", board));
    const me = await whoAmI();
    if (!me) { board.replaceChildren(h("p", { class: "muted" }, "Could not tell who is signed in.")); return; }

    async function act(f, action, body, button) {
      button.disabled = true;
      const answer = await send("customer", "POST", "follow-ups/" + encodeURIComponent(f.id) + "/" + action, body || {},
        { "If-Match": '"' + f.version + '"' });
      if (!answer.ok) {
        problems.replaceChildren(alertBox(problemLines(answer)));
        button.disabled = false;
        return;
      }
      problems.replaceChildren();
      setStatus(humanize(action) + ": " + text(f.note_text, shortId(f.id)));
      await refresh();
    }

    function button(label, f, action, body) {
      const attrs = { type: "button", "data-action": action, "data-follow-up": f.id };
      if (action !== "complete") attrs.class = "secondary";
      const b = h("button", attrs, label);
      b.addEventListener("click", () => act(f, action, typeof body === "function" ? body() : body, b));
      return b;
    }

    const later = (days) => () => ({ until: new Date(Date.now() + days * 86400000).toISOString() });

    async function refresh() {
      const result = await settle(api("customer", "follow-ups", { owner: me.subject, state: ["open", "snoozed"], limit: 100 }));
      if (!result.ok) { board.replaceChildren(failure(result, "Follow-ups")); return; }
      const now = Date.now();
      board.replaceChildren(table("My open follow-ups, due first", ["Due", "State", "Customer", "Note", "Actions"],
        result.value.items.map((f) => ({
          className: new Date(f.due_at).getTime() < now ? "breached-row" : "",
          cells: [when(f.due_at), badge(f.state, f.state === "open" ? "medium" : ""),
            link("/customers/" + f.customer_id, shortId(f.customer_id)), text(f.note_text, "(erased)"),
            h("span", { class: "actions" }, button("Complete", f, "complete"), " ", button("Snooze a day", f, "snooze", later(1)),
              " ", button("Snooze a week", f, "snooze", later(7)), " ", button("Cancel", f, "cancel"))],
        })), { empty: "Nothing to follow up. Follow-ups you own appear here, due first." }));
    }

    setStatus("Loading…");
    await refresh();
    setStatus("");
  }

  // --- the 360 page's notes panel ------------------------------------------------------------------

  async function fillNotes(section, customerId) {
    const me = await whoAmI();
    // Customers do not see staff notes. The panel stays, hidden: removing it would make the observer
    // add it again, and again (the page never settled for a self-service token).
    if (!me || me.customer_id) { section.replaceChildren(); section.hidden = true; return; }
    const list = h("div", { id: "notes-list", "aria-live": "polite" });
    const problems = h("div", { id: "notes-problems" });
    const noteText = h("textarea", { id: "note-text", rows: "3", maxlength: "4000", required: "required" });
    const due = h("input", { id: "note-due", type: "datetime-local" });
    const owner = h("input", { id: "note-owner", type: "text", maxlength: "200", placeholder: me.subject });
    const submit = h("button", { type: "submit", id: "note-submit" }, "Add note");
    const form = h("form", { id: "note-form", "aria-label": "Write a note" },
      h("div", { class: "field" }, h("label", { for: "note-text" }, "Note"), noteText),
      h("div", { class: "field" }, h("label", { for: "note-due" }, "Follow up by (optional)"), due),
      h("div", { class: "field" }, h("label", { for: "note-owner" }, "Follow-up owner (you unless named)"), owner),
      submit);

    async function load() {
      const result = await settle(api("customer", "customers/" + customerId + "/notes", { limit: 50 }));
      if (!result.ok) { list.replaceChildren(failure(result, "Notes")); return; }
      list.replaceChildren(table("Notes, newest first", ["Written", "By", "Note", "Follow-up"],
        result.value.items.map((n) => ({ cells: [when(n.written_at), text(n.author), text(n.text), followUpSummary(n.follow_up)] })),
        { empty: "No notes yet." }));
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      const body = { text: noteText.value };
      if (due.value) {
        const moment = new Date(due.value);
        body.follow_up = { due_at: isNaN(moment.getTime()) ? due.value : moment.toISOString() };
        if (owner.value.trim()) body.follow_up.owner = owner.value.trim();
      }
      const answer = await send("customer", "POST", "customers/" + customerId + "/notes", body,
        { "Idempotency-Key": idempotencyKey() });
      submit.disabled = false;
      if (!answer.ok) { problems.replaceChildren(alertBox(problemLines(answer))); return; }
      problems.replaceChildren();
      noteText.value = ""; due.value = ""; owner.value = "";
      setStatus("Note added");
      await load();
    });

    section.append(problems, form, list);
    await load();
  }

  function addNotesPanel() {
    const page = document.getElementById("customer-360");
    if (!page) return;
    const grid = page.querySelector(".grid");
    if (!grid || grid.querySelector("#notes")) return;
    const section = panel("notes", "Notes and follow-ups");
    section.classList.add("wide");
    grid.insertBefore(section, grid.children[1] || null);
    fillNotes(section, page.getAttribute("data-customer-id"));
  }

  new MutationObserver(addNotesPanel).observe(document.documentElement, { childList: true, subtree: true });

  window.C360.addPage({ name: "followups", label: "My follow-ups", render: (root) => followUpsPage(root) });
})();
