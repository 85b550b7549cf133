// The HTML compatibility part of the Checks tab, with Mailpit's platform filter: the score is
// recomputed in the browser over the platforms ticked (kept in localStorage), pseudo-classes and
// at-rules weigh 0.05 (their use count says little), as Mailpit's UI does.

import { h, replace } from "./dom.js";

export const PLATFORMS = {
  windows: "Windows",
  "windows-mail": "Windows Mail",
  "outlook-com": "Outlook.com",
  macos: "macOS",
  ios: "iOS",
  android: "Android",
  "desktop-webmail": "Desktop Webmail",
  "mobile-webmail": "Mobile Webmail",
};
const STORAGE_KEY = "mailsink-html-check-platforms";
const percent = (value) => `${Math.round(Number(value) * 10) / 10}%`;

function loadPlatforms() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) || "[]");
    if (Array.isArray(saved) && saved.length) return new Set(saved);
  } catch {
    // a broken saved value: start from every platform
  }
  return new Set(Object.keys(PLATFORMS));
}

const lightWeight = (title) => /^(:|@)/.test(title);

/** Recompute the warnings and total over the chosen platforms (Mailpit's client-side summary). */
export function summarize(check, platforms) {
  const nodes = check.Total.Nodes || 1;
  const warnings = [];
  for (const original of check.Warnings || []) {
    if (!(original.Results || []).length) {
      warnings.push({ ...original, weight: 1 }); // <script>: no client runs it
      continue;
    }
    const results = original.Results.filter((r) => platforms.has(r.Platform));
    if (!results.length) continue;
    const count = (kind) => results.filter((r) => r.Support === kind).length;
    const total = results.length;
    const weight = lightWeight(original.Title) ? 0.05 : Math.min(1, original.Score.Found / nodes);
    warnings.push({
      ...original,
      Results: results.filter((r) => r.Support !== "yes"),
      Score: {
        Found: original.Score.Found,
        Supported: (count("yes") / total) * 100,
        Partial: (count("partial") / total) * 100,
        Unsupported: (count("no") / total) * 100,
      },
      weight,
    });
  }
  const worst = (key) => Math.max(0, ...warnings.map((w) => w.Score[key] * w.weight));
  warnings.sort((a, b) => (b.Score.Unsupported + b.Score.Partial) * b.weight - (a.Score.Unsupported + a.Score.Partial) * a.weight);
  const partial = worst("Partial");
  const unsupported = worst("Unsupported");
  return { warnings, total: { Supported: 100 - partial - unsupported, Partial: partial, Unsupported: unsupported } };
}

function clientRows(warnings) {
  // Per client family and platform: how many of the used features its newest tested version lacks.
  const byClient = new Map();
  for (const warning of warnings) {
    const newest = new Map();
    for (const r of warning.Results || []) newest.set(`${r.Family}|${r.Platform}`, r);
    for (const [key, r] of newest) {
      const row = byClient.get(key) || { name: r.Name.replace(/ \([^)]*\)$/, ""), no: 0, partial: 0 };
      if (r.Support === "no") row.no += 1;
      if (r.Support === "partial") row.partial += 1;
      byClient.set(key, row);
    }
  }
  return [...byClient.values()].sort((a, b) => b.no - a.no || b.partial - a.partial || a.name.localeCompare(b.name));
}

function featureItem(w) {
  const title = w.URL
    ? h("a", { href: w.URL, target: "_blank", rel: "noopener noreferrer" }, w.Title)
    : h("strong", {}, w.Title);
  return h(
    "li",
    { class: "feature", dataset: { slug: w.Slug } },
    title,
    h("span", { class: "note" }, ` ${w.Category} · used ${w.Score.Found}× · unsupported in ${percent(w.Score.Unsupported)}, partial in ${percent(w.Score.Partial)} of clients`),
    w.Description ? h("div", { class: "note description" }, w.Description) : null,
  );
}

function renderSummary(box, check, platforms) {
  const { warnings, total } = summarize(check, platforms);
  const rows = clientRows(warnings);
  replace(
    box,
    h("p", { class: "score" },
      h("strong", { id: "check-html-score" }, `${percent(total.Supported)} supported`),
      ` · ${percent(total.Partial)} partial · ${percent(total.Unsupported)} unsupported · ${check.Total.Nodes} elements, ${check.Total.Tests} tests`),
    h("table", { class: "headers check-table clients" }, h("tbody", {},
      h("tr", {}, h("th", {}, "Client"), h("th", {}, "Features unsupported"), h("th", {}, "Partial")),
      rows.map((c) => h("tr", {}, h("td", {}, c.name), h("td", {}, String(c.no)), h("td", {}, String(c.partial)))))),
    h("h3", {}, `Features that need care (${warnings.length})`),
    warnings.length
      ? h("ul", { class: "features" }, warnings.map(featureItem))
      : h("p", { class: "note" }, "None: every feature used is supported on the platforms chosen."),
  );
}

/** Return the HTML check's content: platform switches and the summary they drive. */
export function htmlCheckView(check) {
  const platforms = loadPlatforms();
  const summary = h("div", { id: "check-html-summary" });
  const switches = Object.entries(PLATFORMS).map(([key, label]) => {
    const box = h("input", { type: "checkbox", value: key, checked: platforms.has(key) });
    box.addEventListener("change", () => {
      if (box.checked) platforms.add(key);
      else platforms.delete(key);
      localStorage.setItem(STORAGE_KEY, JSON.stringify([...platforms]));
      renderSummary(summary, check, platforms);
    });
    return h("label", { class: "platform", title: (check.Platforms[key] || []).join(", ") }, box, ` ${label}`);
  });
  renderSummary(summary, check, platforms);
  return [h("div", { class: "html-tools platforms", id: "check-platforms", role: "group", "aria-label": "Platforms tested" }, switches), summary];
}
