/* Duplicates: suggested duplicate pairs with the evidence that matched, the merge, and the duplicate rules.
 *
 * Consent-safe identity (docs/identity.md): a merge keeps each channel's more restrictive consent, and a
 * merge of two verified identities needs the operator's explicit confirmation (the customer service
 * answers 409 without it; the page shows that answer rather than deciding for the service). The rules
 * are admin data; the service validates them and the page shows its problem+json errors field by field.
 * Everything is written as text through C360.kit.h.
 */
"use strict";

(function () {
  const kit = window.C360.kit;
  const { h, text, badge, panel, setStatus, api, link, navigate, shortId } = kit;
  const CHANNELS = ["email", "sms", "push", "phone"];
  const RULE_FLAGS = [
    ["email", "Same email", "The same mailbox matches."],
    ["email_canonical", "Canonical email", "Compare mailboxes with +tags dropped and Gmail dots ignored."],
    ["phone", "Same phone", "The same number in E.164 matches."],
    ["name", "Similar name", "A similar name with the same birth date matches."],
  ];
  // The console keeps its token here (console.js); writes read it to keep the whole problem+json answer,
  // which kit.api reduces to its detail.

  /** Writes to the customer service answer with their problem+json instead of throwing. */
  const send = (method, path, body, headers) => kit.send("customer", method, path, body, headers);
  const { problemLines, alertBox, ifMatch, whileDisabled } = kit;

  // --- suggested pairs ------------------------------------------------------------------------------

  function side(id, record) {
    return h("div", { class: "pair-side" },
      link("/customers/" + id, text(record.name, shortId(id))),
      h("div", { class: "muted" }, [record.email, record.phone, record.birth_date ? "born " + record.birth_date : null]
        .filter(Boolean).join(" · ")),
      record.verified.length ? badge("verified " + record.verified.join(" and "), "low") : null);
  }

  function evidenceCell(pair) {
    const similarity = pair.name_similarity === null || pair.name_similarity === undefined ? null
      : "name similarity " + Number(pair.name_similarity).toFixed(2);
    const bothVerified = pair.customer.verified.length > 0 && pair.duplicate.verified.length > 0;
    return h("div", {}, pair.evidence.map((e) => badge(e)), similarity ? h("div", { class: "muted" }, similarity) : null,
      bothVerified ? badge("both verified identities", "high") : null);
  }

  /** What a merge would do to the survivor's consent, channel by channel (the more restrictive wins). */
  function consentPreview(survivor, duplicate) {
    const changes = CHANNELS.filter((c) => survivor.consents[c] && !duplicate.consents[c]);
    if (!changes.length) return h("span", { class: "muted" }, "no consent narrows");
    return h("ul", {}, changes.map((c) => h("li", {}, c + ": yes → no")));
  }

  function mergeForm(pair, onMerged) {
    const a = { id: pair.customer_id, record: pair.customer };
    const b = { id: pair.duplicate_id, record: pair.duplicate };
    const bothVerified = a.record.verified.length > 0 && b.record.verified.length > 0;
    const key = pair.customer_id + "-" + pair.duplicate_id;
    const keep = h("select", { id: "keep-" + key, name: "keep" },
      h("option", { value: "a" }, "Keep " + text(a.record.name, shortId(a.id)) + " (" + shortId(a.id) + ")"),
      h("option", { value: "b" }, "Keep " + text(b.record.name, shortId(b.id)) + " (" + shortId(b.id) + ")"));
    const reason = h("input", { id: "reason-" + key, name: "reason", type: "text", autocomplete: "off", maxlength: 1000 });
    const confirm = h("input", { id: "confirm-" + key, name: "confirm_verified_identities", type: "checkbox" });
    confirm.style.width = "auto";
    const preview = h("div", { class: "merge-preview" });
    const outcome = h("div", { "aria-live": "polite" });
    const update = () => {
      const [survivor, duplicate] = keep.value === "a" ? [a, b] : [b, a];
      preview.replaceChildren(h("span", { class: "muted" }, "Consent after the merge: "), consentPreview(survivor.record, duplicate.record));
    };
    keep.addEventListener("change", update);
    update();
    const submit = h("button", { type: "submit", class: "primary" }, "Merge");
    const form = h("form", { class: "merge", "aria-label": "Merge " + shortId(a.id) + " and " + shortId(b.id), onsubmit: async (e) => {
      e.preventDefault();
      const [survivor, duplicate] = keep.value === "a" ? [a, b] : [b, a];
      submit.disabled = true;
      outcome.replaceChildren();
      const answer = await send("POST", "customers/" + encodeURIComponent(survivor.id) + "/merge", {
        duplicate_id: duplicate.id, reason: reason.value, confirm_verified_identities: confirm.checked,
      });
      submit.disabled = false;
      if (!answer.ok) {
        const lines = problemLines(answer);
        const p = answer.body || {};
        if (p.code === "verified-identities" && p.survivor_verified) {
          lines.push("Kept record verified: " + p.survivor_verified.join(", ") + "; other record verified: "
            + p.duplicate_verified.join(", ") + ".");
        }
        outcome.replaceChildren(alertBox(lines));
        return;
      }
      onMerged(survivor, duplicate, answer.body);
    } },
      h("div", {}, h("label", { for: keep.id }, "Survivor"), keep),
      h("div", {}, h("label", { for: reason.id }, "Reason"), reason),
      bothVerified ? h("div", {}, h("p", {},
        "Both records are verified identities: each proved a contact. Merge them only if you confirmed they are one person."),
      h("label", { for: confirm.id }, confirm, " I confirmed both verified identities are one person")) : null,
      preview,
      h("div", {}, submit),
      outcome);
    return form;
  }

  async function loadPairs(body, info, cursor) {
    let page;
    try {
      page = await api("customer", "customers/duplicates", { limit: 50, cursor });
    } catch (error) {
      body.append(h("p", { class: "muted", role: "note" }, "Suggested pairs unavailable: " + text(error.message)));
      return;
    }
    info.textContent = "Found by duplicate rules version " + page.rules_version + ".";
    if (!cursor) body.replaceChildren();
    const rows = page.items.map((pair) => {
      const holder = h("td", {});
      const tr = h("tr", { "data-pair": pair.customer_id + ":" + pair.duplicate_id },
        h("td", {}, side(pair.customer_id, pair.customer)),
        h("td", {}, side(pair.duplicate_id, pair.duplicate)),
        h("td", {}, evidenceCell(pair)),
        holder);
      const open = h("button", { type: "button", class: "secondary", onclick: () => {
        open.remove();
        holder.append(mergeForm(pair, (survivor, duplicate, merged) => {
          const narrowed = CHANNELS.filter((c) => survivor.record.consents[c] && !merged.consents[c]);
          tr.replaceChildren(h("td", { colspan: 4 }, "Merged " + text(duplicate.record.name, shortId(duplicate.id)) + " into ",
            link("/customers/" + survivor.id, text(survivor.record.name, shortId(survivor.id))),
            narrowed.length ? ". Consent narrowed: " + narrowed.join(", ") + "." : ". No consent narrowed."));
          tr.setAttribute("data-merged", "true");
          setStatus("Merged " + shortId(duplicate.id) + " into " + shortId(survivor.id) + ".");
        }));
      } }, "Merge…");
      holder.append(open);
      return tr;
    });
    if (!cursor && !rows.length) {
      body.append(h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No suggested pairs under the current rules.")));
    }
    body.append(...rows);
    if (page.next_cursor) {
      const more = h("button", { type: "button", class: "secondary", id: "more-pairs", onclick: () => {
        more.remove();
        loadPairs(body, info, page.next_cursor);
      } }, "More pairs");
      body.closest("section").append(more);
    }
  }

  // --- the rules ------------------------------------------------------------------------------------

  function rulesForm(section, rules, onSaved) {
    const flags = {};
    const fields = RULE_FLAGS.map(([name, label, help]) => {
      const box = h("input", { type: "checkbox", id: "rule-" + name, name, "aria-describedby": "rule-" + name + "-help" });
      box.style.width = "auto";
      box.checked = Boolean(rules[name]);
      flags[name] = box;
      return h("div", {}, h("label", { for: box.id }, box, " " + label), h("span", { id: "rule-" + name + "-help", class: "muted" }, help));
    });
    // A text box, not a number input: the service judges the value and the page shows its answer.
    const threshold = h("input", { type: "text", inputmode: "decimal", id: "rule-name_threshold", name: "name_threshold",
      autocomplete: "off", value: String(rules.name_threshold), "aria-describedby": "rule-name_threshold-help" });
    const errors = h("div", { "aria-live": "assertive" });
    const submit = h("button", { type: "submit", class: "primary" }, "Save rules");
    const form = h("form", { class: "search", id: "rules-form", novalidate: true, onsubmit: async (e) => {
      e.preventDefault();
      errors.replaceChildren();
      const raw = threshold.value.trim();
      const number = raw === "" ? NaN : Number(raw);
      const body = { name_threshold: Number.isFinite(number) ? number : raw };
      for (const [name, box] of Object.entries(flags)) body[name] = box.checked;
      const answer = await whileDisabled(submit, () => send("PUT", "duplicate-rules", body, ifMatch(rules)));
      for (const el of [threshold, ...Object.values(flags)]) el.removeAttribute("aria-invalid");
      if (!answer.ok) {
        const p = answer.body || {};
        for (const issue of p.errors || []) {
          const name = (issue.loc || [])[1];
          if (name === "name_threshold") threshold.setAttribute("aria-invalid", "true");
          else if (flags[name]) flags[name].setAttribute("aria-invalid", "true");
        }
        if (p.field === "name_threshold") threshold.setAttribute("aria-invalid", "true");
        errors.replaceChildren(alertBox(problemLines(answer, {
          412: "Someone changed the rules meanwhile; they were reloaded.",
        })));
        if (answer.status === 412) onSaved(null, errors);
        return;
      }
      onSaved(answer.body);
    } },
      fields,
      h("div", {}, h("label", { for: threshold.id }, "Name similarity threshold"), threshold,
        h("span", { id: "rule-name_threshold-help", class: "muted" }, "Least similarity, 0 to 1 (1 = the same name).")),
      h("div", {}, submit));
    section.append(h("p", { class: "muted", id: "rules-version" }, "Version " + rules.version + "."), form, errors);
  }

  async function loadRules(section, reloadPairs) {
    let rules;
    try {
      rules = await api("customer", "duplicate-rules");
    } catch (error) {
      section.append(h("p", { class: "muted", role: "note" }, error.status === 403
        ? "Only an admin token can view and change the duplicate rules."
        : "Duplicate rules unavailable: " + text(error.message)));
      return;
    }
    rulesForm(section, rules, async (saved, keep) => {
      const title = section.querySelector("h2");
      section.replaceChildren(title);
      if (saved) setStatus("Duplicate rules saved (version " + saved.version + ").");
      await loadRules(section, reloadPairs);
      if (keep) section.append(keep);
      reloadPairs();
    });
  }

  async function render(root) {
    document.title = "Duplicates · Customer 360";
    const info = h("p", { class: "muted", id: "pairs-rules-version" });
    const body = h("tbody", {});
    const pairs = panel("pairs", "Suggested pairs", info,
      h("p", { class: "muted" }, "A merge keeps each channel's more restrictive consent; two verified identities need your explicit confirmation."),
      h("table", {}, h("caption", { class: "visually-hidden" }, "Suggested duplicate pairs with the evidence that matched"),
        h("thead", {}, h("tr", {}, ["Customer", "Possible duplicate", "Evidence", "Merge"].map((n) => h("th", { scope: "col" }, n)))),
        body));
    pairs.classList.add("wide");
    const rules = panel("rules", "Duplicate rules");
    rules.classList.add("wide");
    root.append(h("h1", {}, "Duplicate customers"), h("div", { class: "grid" }, pairs, rules));
    const reloadPairs = () => {
      const more = document.getElementById("more-pairs");
      if (more) more.remove();
      return loadPairs(body, info);
    };
    await Promise.all([reloadPairs(), loadRules(rules, reloadPairs)]);
  }

  window.C360.addPage({ name: "duplicates", label: "Duplicates", render });
})();
