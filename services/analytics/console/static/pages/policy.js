/* Marketing policy: the frequency caps, quiet hours, holiday send blackouts, service-recovery holds and
 * per-campaign overrides every campaign decision obeys (docs/marketing-policy.md).
 *
 * Reading needs campaigns:read; changing it is admin. The page shows the current version and who changed
 * it, edits the whole policy as one JSON document (PUT with If-Match: a change made meanwhile is a 412 and
 * the page reloads it), and imports holidays from an .ics file. The campaigns service validates; the page
 * shows its problem+json answer field by field. Everything is written as text through C360.kit.h.
 */
"use strict";

(function () {
  const kit = window.C360.kit;
  const { h, text, panel, table, facts, setStatus, navigate, link, shortId } = kit;
  const EDITABLE = ["caps", "quiet_hours", "blackouts", "complaint_hold", "sla_breach_hold_days", "detractor_hold_days",
    "overrides"];

  /** Writes to the campaigns service answer with their problem+json instead of throwing. */
  const send = (method, path, body, headers) => kit.send("campaigns", method, path, body, headers);
  const { problemLines, alertBox, icsForm, ifMatch, whileDisabled, loadPanel } = kit;

  const hhmm = (t) => String(t).slice(0, 5);
  const quiet = (q) => (q ? hhmm(q.start) + "-" + hhmm(q.end) : "none");
  const capRows = (caps) => caps.map((c) => [c.channel || "every channel", String(c.max_messages), c.window_days + " days"]);

  /** The policy as an operator reads it: what each rule means for a customer. */
  function overview(policy) {
    const when = policy.changed_at ? policy.changed_at + " by " + text(policy.changed_by, "unknown") : "never changed (deployment defaults)";
    return h("div", {},
      facts([["Version", String(policy.version)], ["Last change", when], ["Quiet hours (customer's time zone)", quiet(policy.quiet_hours)],
        ["Promotions wait during an open complaint", policy.complaint_hold ? "yes" : "no"],
        ["Promotions wait after an SLA breach", policy.sla_breach_hold_days + " days"],
        ["Promotions wait after a detractor answer", policy.detractor_hold_days + " days"]]),
      h("h3", {}, "Frequency caps"),
      table("Frequency caps: at most this many promotional messages per customer in the window",
        ["Channel", "At most", "In any"], capRows(policy.caps), { numeric: [1], empty: "No caps." }),
      h("h3", {}, "Send blackouts"),
      policy.blackouts.length
        ? h("ul", { class: "blackouts" }, policy.blackouts.map((b) => h("li", { "data-day": b.day }, b.day + (b.name ? " " + b.name : ""))))
        : h("p", { class: "muted" }, "No blackout days."),
      h("h3", {}, "Campaign overrides (stricter only)"),
      table("Per-campaign overrides", ["Campaign", "Extra caps", "Quiet hours"], policy.overrides.map((o) => [
        link("/campaigns", shortId(o.campaign_id)),
        o.caps.length ? capRows(o.caps).map((r) => r[1] + " " + (r[0] === "every channel" ? "" : r[0] + " ") + "in " + r[2]).join("; ") : "none",
        o.quiet_hours ? quiet(o.quiet_hours) : "global"]), { empty: "No overrides." }));
  }

  function editor(policy, reload) {
    const documentText = JSON.stringify(Object.fromEntries(EDITABLE.map((k) => [k, policy[k]])), null, 2)
      .replace(/"(start|end)": "(\d\d:\d\d):00"/g, '"$1": "$2"');
    const area = h("textarea", { id: "policy-document", name: "policy", rows: 18, spellcheck: "false",
      "aria-describedby": "policy-document-help" });
    area.value = documentText;
    const errors = h("div", { "aria-live": "assertive" });
    const submit = h("button", { type: "submit", class: "primary" }, "Save policy");
    const form = h("form", { class: "search", id: "policy-form", novalidate: true, onsubmit: async (e) => {
      e.preventDefault();
      errors.replaceChildren();
      let body;
      try {
        body = JSON.parse(area.value);
      } catch (error) {
        area.setAttribute("aria-invalid", "true");
        errors.replaceChildren(alertBox(["The policy is not valid JSON: " + text(error.message)]));
        return;
      }
      const answer = await whileDisabled(submit, () => send("PUT", "marketing-policy", body, ifMatch(policy)));
      area.removeAttribute("aria-invalid");
      if (!answer.ok) {
        area.setAttribute("aria-invalid", "true");
        errors.replaceChildren(alertBox(problemLines(answer, {
          412: "Someone changed the policy meanwhile; it was reloaded.",
          403: "Only an admin token can change the marketing policy.",
        })));
        if (answer.status === 412) reload(errors);
        return;
      }
      setStatus("Marketing policy saved (version " + answer.body.version + "); campaign decisions use it from now on.");
      reload();
    } },
      h("div", {}, h("label", { for: area.id }, "Policy document (caps, quiet hours, blackouts, holds, overrides)"), area,
        h("span", { id: "policy-document-help", class: "muted" },
          "Caps: {channel: null|email|sms|push, max_messages, window_days}. Quiet hours HH:MM or null. An override may only be stricter.")),
      h("div", {}, submit), errors);
    return form;
  }

  function icsImport(policy, reload) {
    return icsForm({ id: "policy-ics-form", "aria-label": "Import holidays as send blackouts" }, "policy-ics",
      (data) => send("POST", "marketing-policy/blackouts/ics", data,
        { "Content-Type": "text/calendar", "If-Match": '"' + policy.version + '"' }),
      (answer) => {
        setStatus("Holidays imported as send blackouts (version " + answer.body.version + ", "
          + answer.body.blackouts.length + " blackout days).");
        reload();
      });
  }

  async function render(root) {
    document.title = "Marketing policy · Customer 360";
    const current = panel("policy-current", "Current policy");
    const edit = panel("policy-edit", "Change the policy");
    current.classList.add("wide");
    edit.classList.add("wide");
    root.append(h("h1", {}, "Marketing policy"),
      h("p", { class: "muted" }, "Every campaign decision obeys this policy and records the version it used; a change is in force for the next decision."),
      h("div", { class: "grid" }, current, edit));
    const load = async (keep) => {
      const policy = await loadPanel(current, "Marketing policy", "campaigns", "marketing-policy");
      if (policy === null) return;
      current.replaceChildren(current.querySelector("h2"), overview(policy));
      edit.replaceChildren(edit.querySelector("h2"), editor(policy, load), h("h3", {}, "Holidays from a calendar file"),
        icsImport(policy, load));
      if (keep instanceof Node) edit.append(keep);
    };
    await load();
  }

  window.C360.addPage({ name: "policy", label: "Marketing policy", render });
})();
