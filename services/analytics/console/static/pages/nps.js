/* NPS and why (docs/surveys.md): Net Promoter Score per period and per segment, with what promoters,
 * passives and detractors say is the main reason for their score (the most mentioned words and phrases).
 *
 * Reads GET /v1/kpis/nps/reasons (analytics:read). Analytics keeps only the terms of each reason, opened
 * with the customer's key at ingestion and gone when the customer is erased; this page never sees a
 * customer's text. Everything is written as text through C360.kit.h.
 */
"use strict";

(function () {
  const kit = window.C360.kit;
  const { h, text, panel, table, facts, setStatus, api, settle, failure } = kit;
  const BANDS = [["promoter", "Promoters (9-10)"], ["passive", "Passives (7-8)"], ["detractor", "Detractors (0-6)"]];
  const SEGMENTS = ["", "high_value", "loyal", "at_risk", "loss_making", "serial_complainer", "late_payer", "deal_seeker",
    "fraud_flagged"];

  function isoDay(d) { return d.toISOString().slice(0, 10); }

  function select(id, values, value) {
    const el = h("select", { id }, values.map((v) => h("option", { value: v }, v === "" ? "every segment" : v.replace(/_/g, " "))));
    el.value = value;
    return el;
  }

  function labelled(id, label, control) {
    return h("div", { class: "field" }, h("label", { for: id }, label), control);
  }

  function terms(group) {
    if (!group.top.length) return h("span", { class: "muted" }, group.answers ? "no words beyond stop words" : "no reasons");
    return h("ol", { class: "reason-terms" }, group.top.map((t) =>
      h("li", { "data-term": t.term }, (t.phrase ? "“" + t.term + "”" : t.term) + " (" + t.mentions + ")")));
  }

  function reasonsTable(caption, reasons) {
    return table(caption, ["Band", "Reasons given", "Most mentioned"],
      BANDS.map(([key, label]) => ({ className: "band-" + key, cells: [label, String(reasons[key].answers), terms(reasons[key])] })),
      { numeric: [1] });
  }

  function score(row) { return row.nps === null || row.nps === undefined ? "—" : row.nps; }

  function render(body, board) {
    const overview = panel("nps-overall", "The whole range",
      facts([["NPS", score(body)], ["Responses", String(body.responses)], ["Promoters", String(body.promoters)],
        ["Passives", String(body.passives)], ["Detractors", String(body.detractors)],
        ["Segment", body.segment ? body.segment.replace(/_/g, " ") : "every segment"]]),
      reasonsTable("Reasons over the whole range", body.reasons));
    const periods = panel("nps-periods", "Per period",
      body.by_period.length ? h("div", {}, body.by_period.map((p) => h("section", { class: "nps-period", "data-period": p.period },
        h("h3", {}, p.period.slice(0, 10) + ": NPS " + score(p) + " (" + p.responses + " responses)"),
        reasonsTable("Reasons in the period from " + p.period.slice(0, 10), p.reasons))))
        : h("p", { class: "muted" }, "No NPS answers in this range."));
    const segments = panel("nps-segments", "Per segment (customers' current segments)",
      table("NPS per segment", ["Segment", "NPS", "Responses", "What detractors say", "What promoters say"],
        body.by_segment.map((s) => [s.segment.replace(/_/g, " "), score(s), String(s.responses), terms(s.reasons.detractor),
          terms(s.reasons.promoter)]), { numeric: [1, 2], empty: "No answers from customers in a segment." }));
    board.replaceChildren(overview, periods, segments);
  }

  async function load(params, board) {
    setStatus("Loading…");
    const result = await settle(api("analytics", "kpis/nps/reasons", params));
    if (!result.ok) {
      board.replaceChildren(failure(result, "NPS reasons"));
      setStatus("The analytics service refused: " + text(result.error && result.error.message), true);
      return;
    }
    render(result.value, board);
    setStatus("");
  }

  async function npsPage(root) {
    document.title = "NPS and why · Customer 360";
    const now = new Date();
    const from = h("input", { id: "nps-from", type: "date", value: isoDay(new Date(Date.UTC(now.getUTCFullYear() - 1, now.getUTCMonth(), 1))) });
    const to = h("input", { id: "nps-to", type: "date", value: isoDay(new Date(now.getTime() + 86400000)) });
    const period = select("nps-period", ["week", "month", "quarter", "year"], "month");
    const segment = select("nps-segment", SEGMENTS, "");
    const top = h("input", { id: "nps-top", type: "number", min: "1", max: "50", value: "8" });
    const board = h("div", { id: "nps-board" });
    const params = () => ({ from: from.value + "T00:00:00Z", to: to.value + "T00:00:00Z", period: period.value,
      segment: segment.value || null, top: top.value });
    const form = h("form", { class: "search", onsubmit: (e) => { e.preventDefault(); load(params(), board); } },
      labelled("nps-from", "From", from), labelled("nps-to", "To (exclusive)", to), labelled("nps-period", "Period", period),
      labelled("nps-segment", "Segment", segment), labelled("nps-top", "Terms per band", top),
      h("div", {}, h("button", { type: "submit", class: "primary" }, "Show")));
    root.append(h("h1", {}, "NPS and why"),
      h("p", { class: "muted" }, "What customers say is the main reason for their score, as words and phrases (stop words removed). " +
        "Only terms are kept; an erased customer's reasons are gone."), form, board);
    await load(params(), board);
  }

  window.C360.addPage({ name: "nps", label: "NPS and why", render: (root) => npsPage(root) });
})();
