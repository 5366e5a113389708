/* Calendars: the business-hours calendars SLA clocks count on (docs/calendars.md).
 *
 * Shows each calendar's time zone, weekly hours (split shifts), holidays and date exceptions, and which
 * SLA tier counts on which calendar. An administrator can define or replace a calendar (its JSON, as the
 * API takes it), import holidays from an .ics file, and assign a tier's calendar; every change re-plans
 * the open tickets on it, and the page says how many. The ticketing service validates everything; the
 * page shows its problem+json answers field by field. Everything is written as text through C360.kit.h.
 */
"use strict";

(function () {
  const kit = window.C360.kit;
  const { h, text, badge, panel, setStatus, api, navigate } = kit;
  const DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
  const EXAMPLE = {
    time_zone: "Europe/Berlin",
    weekly_hours: Object.fromEntries(DAYS.slice(0, 5).map((d) => [d, [{ start: "09:00", end: "12:00" }, { start: "13:00", end: "17:00" }]])),
    holidays: [{ date: "2026-12-25", name: "Christmas Day" }],
    exceptions: [{ date: "2026-12-24", hours: [{ start: "09:00", end: "12:00" }], note: "Christmas Eve" }],
  };

  /** Writes to the ticketing service answer with their problem+json instead of throwing. */
  const send = (method, path, body, headers) => kit.send("ticketing", method, path, body, headers);
  const { problemLines, alertBox, icsForm, ifMatch, whileDisabled } = kit;

  function shifts(list) {
    return list && list.length ? list.map((s) => s.start + "-" + s.end).join(", ") : "closed";
  }

  function replannedNote(body) {
    const parts = [];
    if (body.holidays_imported !== null && body.holidays_imported !== undefined) parts.push(body.holidays_imported + " holiday dates read");
    if (body.replanned_tickets !== null && body.replanned_tickets !== undefined) parts.push(body.replanned_tickets + " open tickets re-planned");
    return parts.join("; ");
  }

  // --- one calendar ---------------------------------------------------------------------------------

  function calendarCard(calendar, reload) {
    const key = calendar.name;
    const week = h("table", {},
      h("caption", { class: "visually-hidden" }, "Weekly working hours of " + key),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Day"), h("th", { scope: "col" }, "Working hours"))),
      h("tbody", {}, DAYS.map((d) => h("tr", {}, h("th", { scope: "row" }, d), h("td", { "data-day": d }, shifts(calendar.weekly_hours[d]))))));
    const holidays = calendar.holidays.length
      ? h("ul", { class: "holidays" }, calendar.holidays.map((x) => h("li", {}, x.date + " " + text(x.name, ""))))
      : h("p", { class: "muted" }, "No holidays.");
    const exceptions = calendar.exceptions.length
      ? h("ul", { class: "exceptions" }, calendar.exceptions.map((x) => h("li", {}, x.date + ": " + shifts(x.hours) + (x.note ? " (" + x.note + ")" : ""))))
      : h("p", { class: "muted" }, "No date exceptions.");

    const replace = h("input", { type: "checkbox", id: "ics-replace-" + key, name: "replace" });
    replace.style.width = "auto";
    const upload = icsForm({ "aria-label": "Import holidays into " + key }, "ics-" + key,
      (data) => send("POST", "calendars/" + encodeURIComponent(key) + "/holidays/import" + (replace.checked ? "?replace=true" : ""),
        data, { "Content-Type": "text/calendar" }),
      (answer) => {
        setStatus("Holidays imported into " + key + ": " + replannedNote(answer.body) + ".");
        reload();
      },
      h("div", {}, h("label", { for: replace.id }, replace, " Replace the calendar's holidays")));

    const section = panel("calendar-" + key, key,
      h("p", { class: "muted" }, "Time zone " + calendar.time_zone + " · version " + calendar.version),
      h("div", {}, calendar.tiers.length ? calendar.tiers.map((t) => badge("tier " + t)) : h("span", { class: "muted" }, "No tier counts on it.")),
      week, h("h3", {}, "Holidays"), holidays, h("h3", {}, "Date exceptions"), exceptions, upload);
    section.setAttribute("data-calendar", key);
    return section;
  }

  // --- tiers ----------------------------------------------------------------------------------------

  function tiersForm(section, assignment, calendars, reload) {
    const selects = {};
    const rows = Object.keys(assignment.tiers).sort().map((tier) => {
      const select = h("select", { id: "tier-" + tier, name: tier },
        h("option", { value: "" }, "24/7 (no calendar)"),
        calendars.map((c) => h("option", { value: c.name }, c.name + " (" + c.time_zone + ")")));
      select.value = assignment.tiers[tier] || "";
      selects[tier] = select;
      return h("div", {}, h("label", { for: select.id }, "Tier " + tier), select);
    });
    const errors = h("div", { "aria-live": "assertive" });
    const submit = h("button", { type: "submit", class: "primary" }, "Assign calendars");
    const form = h("form", { class: "search", id: "tiers-form", onsubmit: async (e) => {
      e.preventDefault();
      errors.replaceChildren();
      const tiers = {};
      for (const [tier, select] of Object.entries(selects)) tiers[tier] = select.value || null;
      const answer = await whileDisabled(submit, () => send("PUT", "sla-policies/calendars", { tiers }, ifMatch(assignment)));
      if (!answer.ok) {
        errors.replaceChildren(alertBox(problemLines(answer, {
          403: "Only an admin token can change which calendar a tier counts on.",
        })));
        return;
      }
      setStatus("Tier calendars saved: " + replannedNote(answer.body) + ".");
      reload();
    } }, rows, h("div", {}, submit));
    section.append(h("p", { class: "muted" }, "A tier without a calendar counts 24/7. Assigning one re-plans the tier's open tickets."), form, errors);
  }

  // --- define or replace ----------------------------------------------------------------------------

  function defineForm(section, reload) {
    const name = h("input", { type: "text", id: "calendar-name", name: "name", autocomplete: "off", maxlength: 63,
      placeholder: "berlin-support", "aria-describedby": "calendar-name-help" });
    const json = h("textarea", { id: "calendar-json", name: "definition", rows: 14, spellcheck: "false" });
    json.value = JSON.stringify(EXAMPLE, null, 2);
    const errors = h("div", { "aria-live": "assertive" });
    const submit = h("button", { type: "submit", class: "primary" }, "Save calendar");
    const form = h("form", { id: "define-form", novalidate: true, onsubmit: async (e) => {
      e.preventDefault();
      errors.replaceChildren();
      let body;
      try { body = JSON.parse(json.value); } catch (error) {
        errors.replaceChildren(alertBox(["The definition is not JSON: " + text(error.message)]));
        return;
      }
      const answer = await whileDisabled(submit, () => send("PUT", "calendars/" + encodeURIComponent(name.value.trim()), body));
      if (!answer.ok) {
        errors.replaceChildren(alertBox(problemLines(answer)));
        return;
      }
      setStatus((answer.status === 201 ? "Calendar defined: " : "Calendar saved: ") + answer.body.name
        + (answer.status === 201 ? "." : " (" + replannedNote(answer.body) + ")."));
      reload();
    } },
      h("div", {}, h("label", { for: name.id }, "Name"), name,
        h("span", { id: "calendar-name-help", class: "muted" }, "Lowercase letters, digits, - and _; an existing name replaces that calendar.")),
      h("div", {}, h("label", { for: json.id }, "Definition (time zone, weekly hours, holidays, exceptions)"), json),
      h("div", {}, submit), errors);
    section.append(form);
  }

  async function render(root) {
    document.title = "Calendars · Customer 360";
    root.append(h("h1", {}, "Business-hours calendars"),
      h("p", { class: "muted" }, "SLA due moments count business time on the calendar of the ticket's tier; breaches fire at the business moment."));
    const grid = h("div", { class: "grid" });
    root.append(grid);
    const load = async () => {
      grid.replaceChildren();
      let listed;
      let assignment;
      try {
        [listed, assignment] = await Promise.all([api("ticketing", "calendars"), api("ticketing", "sla-policies/calendars")]);
      } catch (error) {
        grid.append(h("p", { class: "muted", role: "note" }, "Calendars unavailable: " + text(error.message)));
        return;
      }
      const tiers = panel("tiers", "Calendar of each SLA tier");
      tiers.classList.add("wide");
      tiersForm(tiers, assignment, listed.items, load);
      grid.append(tiers);
      if (!listed.items.length) grid.append(h("p", { class: "muted", id: "no-calendars" }, "No calendars yet: every tier counts 24/7."));
      for (const calendar of listed.items) grid.append(calendarCard(calendar, load));
      const define = panel("define", "Define or replace a calendar");
      define.classList.add("wide");
      defineForm(define, load);
      grid.append(define);
    };
    await load();
  }

  window.C360.addPage({ name: "calendars", label: "Calendars", render });
})();
