/* Service follow-ups (docs/service-messages.md): the plain-words messages that tell customers what was done
 * for them when a complaint is resolved, an order delivered or a refund paid.
 *
 * Reading needs campaigns:read; changing the wording every customer receives is admin. Each kind's template is
 * edited on its own form, but saved as the whole set (PUT with If-Match: a change made meanwhile is a 412 and
 * the page reloads it). A customer's follow-ups (sent, deferred by quiet hours, or withheld with the reason)
 * are looked up by customer id. Everything is written as text through C360.kit.h.
 */
"use strict";

(function () {
  const kit = window.C360.kit;
  const { h, text, panel, table, facts, setStatus, problemLines, alertBox, ifMatch, whileDisabled, loadPanel } = kit;
  const CHANNELS = ["email", "sms", "push"];
  const LABELS = { complaint_resolved: "Complaint resolved", order_delivered: "Order delivered", refund_paid: "Refund paid" };
  const PLACEHOLDERS = { complaint_resolved: "{ticket_ref} {category}", order_delivered: "{order_ref} {delivered_on}",
    refund_paid: "{order_ref} {amount} {currency}" };

  const send = (method, path, body, headers) => kit.send("campaigns", method, path, body, headers);
  const asInput = (t) => ({ kind: t.kind, text: t.text, channels: t.channels, enabled: t.enabled });

  function templateForm(current, template, reload) {
    const id = (what) => "sm-" + template.kind + "-" + what;
    const wording = h("textarea", { id: id("text"), name: "text", rows: 3, "aria-describedby": id("help") });
    wording.value = template.text;
    const boxes = CHANNELS.map((channel) => {
      const box = h("input", { type: "checkbox", id: id(channel), name: "channels", value: channel });
      box.checked = template.channels.includes(channel);
      return h("label", { for: box.id }, box, " " + channel);
    });
    const enabled = h("input", { type: "checkbox", id: id("enabled"), name: "enabled" });
    enabled.checked = template.enabled;
    const errors = h("div", { "aria-live": "assertive" });
    const submit = h("button", { type: "submit", class: "primary" }, "Save");
    return h("form", { class: "search service-template", id: id("form"), "data-kind": template.kind, novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        errors.replaceChildren();
        const channels = boxes.map((l) => l.querySelector("input")).filter((b) => b.checked).map((b) => b.value);
        const edited = { kind: template.kind, text: wording.value, channels, enabled: enabled.checked };
        const templates = current.templates.map((t) => (t.kind === template.kind ? edited : asInput(t)));
        const answer = await whileDisabled(submit, () => send("PUT", "service-messages", { templates }, ifMatch(current)));
        if (!answer.ok) {
          errors.replaceChildren(alertBox(problemLines(answer, {
            412: "Someone changed the templates meanwhile; they were reloaded.",
            403: "Only an admin can change what every customer receives.",
          })));
          if (answer.status === 412) reload();
          return;
        }
        setStatus(LABELS[template.kind] + " saved (version " + answer.body.version + "); the next follow-ups use it.");
        reload();
      } },
      h("h3", {}, text(LABELS[template.kind], template.kind)),
      h("div", {}, h("label", { for: wording.id }, "Message"), wording,
        h("span", { id: id("help"), class: "muted" }, "Placeholders: " + PLACEHOLDERS[template.kind])),
      h("fieldset", {}, h("legend", {}, "Channels, in order of preference (only those the customer consented to)"), ...boxes),
      h("div", {}, h("label", { for: enabled.id }, enabled, " Send this follow-up")),
      h("div", {}, submit), errors);
  }

  function lookup() {
    const input = h("input", { id: "sm-customer", name: "customer_id", placeholder: "customer id", required: true });
    const result = h("div", { id: "sm-messages", "aria-live": "polite" });
    return h("div", {},
      h("form", { class: "search", "aria-label": "A customer's service follow-ups", onsubmit: async (e) => {
        e.preventDefault();
        const answer = await send("GET", "customers/" + encodeURIComponent(input.value.trim()) + "/service-messages");
        if (!answer.ok) {
          result.replaceChildren(alertBox(problemLines(answer)));
          return;
        }
        result.replaceChildren(table("Service follow-ups of the customer", ["Kind", "Status", "Channel", "Message", "Decided"],
          answer.body.items.map((m) => [text(LABELS[m.kind], m.kind), m.status + (m.reason ? " (" + m.reason + ")" : ""),
            text(m.channel, "none"), m.text, m.decided_at]), { empty: "No service follow-ups for this customer." }));
      } }, h("label", { for: input.id }, "Customer"), input, h("button", { type: "submit", class: "secondary" }, "Show")),
      result);
  }

  async function render(root) {
    document.title = "Service follow-ups · Customer 360";
    const templates = panel("sm-templates", "Templates");
    const customer = panel("sm-customer-panel", "A customer's follow-ups");
    templates.classList.add("wide");
    root.append(h("h1", {}, "Service follow-ups"),
      h("p", { class: "muted" }, "Not promotions: they respect consent (and the customer's own opt-out) and quiet hours, "
        + "never marketing caps or holds."),
      h("div", { class: "grid" }, templates, customer));
    customer.append(lookup());
    const load = async () => {
      const current = await loadPanel(templates, "Templates", "campaigns", "service-messages");
      if (current === null) return;
      const changed = current.changed_at ? current.changed_at + " by " + text(current.changed_by, "unknown") : "never (the defaults)";
      templates.replaceChildren(templates.querySelector("h2"), facts([["Version", String(current.version)], ["Last change", changed]]),
        ...current.templates.map((t) => templateForm(current, t, load)));
    };
    await load();
  }

  window.C360.addPage({ name: "servicemessages", label: "Service follow-ups", render });
})();
