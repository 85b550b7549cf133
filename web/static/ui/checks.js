// The Checks tab: authentication verdicts, HTML compatibility, spam score, List-Unsubscribe, links.
// Everything from the message is shown as text (dom.js's h() makes text nodes); nothing is rendered
// as HTML. The link check is only run when asked for, since it makes requests to the mail's links.

import { ApiError, api } from "./api.js";
import { h, replace } from "./dom.js";
import { htmlCheckView } from "./html_check.js";

const GOOD = new Set(["pass"]);
const BAD = new Set(["fail", "permerror", "softfail"]);

function verdict(result) {
  const kind = GOOD.has(result) ? "good" : BAD.has(result) ? "bad" : "neutral";
  return h("span", { class: `verdict ${kind}` }, result || "none");
}

function section(id, title, ...children) {
  return h("section", { class: "check", id }, h("h2", {}, title), children);
}

function offNote(error, fallback) {
  const text = error instanceof ApiError && error.status === 403 ? error.message : `${fallback}: ${error.message}`;
  return h("p", { class: "note" }, text);
}

function authRows(auth) {
  const rows = [];
  const signatures = auth.DKIM.Signatures || [];
  if (!signatures.length) rows.push(["DKIM", "none", "the message has no DKIM-Signature"]);
  for (const s of signatures) {
    rows.push([`DKIM ${s.Domain || "?"} (s=${s.Selector || "?"}, ${s.Algorithm || "?"})`, s.Result,
      [s.BodyHash ? `body hash ${s.BodyHash}` : "", s.Reason].filter(Boolean).join("; ")]);
  }
  rows.push(["ARC", auth.ARC.Result, auth.ARC.Reason]);
  rows.push([`SPF ${auth.SPF.Domain || ""} from ${auth.SPF.IP || "?"}`, auth.SPF.Result, auth.SPF.Reason]);
  const dmarc = auth.DMARC;
  const policy = dmarc.Policy ? `policy p=${dmarc.Policy}; ` : "";
  const aligned = dmarc.Alignment ? `aligned: DKIM ${dmarc.Alignment.DKIM ? "yes" : "no"}, SPF ${dmarc.Alignment.SPF ? "yes" : "no"}` : "";
  rows.push([`DMARC ${dmarc.Domain || ""}`, dmarc.Result, [dmarc.Reason, policy + aligned].filter(Boolean).join("; ")]);
  return rows;
}

async function authSection(message) {
  try {
    const auth = await api.authCheck(message.ID);
    return section(
      "check-auth",
      "Authentication (DKIM, ARC, SPF, DMARC)",
      h("table", { class: "headers check-table" }, h("tbody", {},
        authRows(auth).map(([name, result, reason]) =>
          h("tr", { dataset: { method: name.split(" ")[0].toLowerCase() } },
            h("th", {}, name), h("td", {}, verdict(result)), h("td", { class: "reason" }, reason || ""))))),
      h("p", { class: "note" }, h("code", {}, `Authentication-Results: ${auth.AuthenticationResults}`)),
    );
  } catch (error) {
    return section("check-auth", "Authentication (DKIM, ARC, SPF, DMARC)", offNote(error, "Could not check"));
  }
}

async function htmlSection(message) {
  const title = "HTML compatibility (caniemail.com)";
  if (!message.HTML) return section("check-html", title, h("p", { class: "note" }, "The message has no HTML body."));
  try {
    return section("check-html", title, htmlCheckView(await api.htmlCheck(message.ID)));
  } catch (error) {
    return section("check-html", title, offNote(error, "Could not check"));
  }
}

async function spamSection(message) {
  const title = "Spam score (SpamAssassin)";
  try {
    const spam = await api.spamCheck(message.ID);
    if (spam.Error) return section("check-spam", title, h("p", { class: "note" }, `spamd: ${spam.Error}`));
    return section(
      "check-spam",
      title,
      h("p", { class: "score" }, h("strong", { id: "check-spam-score" }, `Score ${spam.Score}`), " ",
        verdict(spam.IsSpam ? "fail" : "pass"), spam.IsSpam ? " spam (5.0 or more)" : " not spam"),
      h("table", { class: "headers check-table" }, h("tbody", {},
        (spam.Rules || []).map((r) => h("tr", {}, h("td", {}, String(r.Score)), h("th", {}, r.Name), h("td", {}, r.Description))))),
    );
  } catch (error) {
    return section("check-spam", title, offNote(error, "Could not check"));
  }
}

function unsubscribeSection(message) {
  const lu = message.ListUnsubscribe || {};
  const title = "List-Unsubscribe";
  if (!lu.Header && !lu.HeaderPost) return section("check-unsubscribe", title, h("p", { class: "note" }, "No List-Unsubscribe header."));
  return section(
    "check-unsubscribe",
    title,
    h("p", { class: "note" }, h("code", {}, `List-Unsubscribe: ${lu.Header || ""}`)),
    h("p", {}, verdict(lu.Errors ? "fail" : "pass"), " ", lu.Errors || "valid",
      lu.HeaderPost ? ` · one-click: ${lu.HeaderPost}` : ""),
    h("ul", {}, (lu.Links || []).map((link) => h("li", {}, h("code", {}, link)))),
  );
}

function linkSection(message) {
  const results = h("div", { id: "check-links-results" });
  const follow = h("input", { type: "checkbox", id: "check-links-follow" });
  const run = h("button", { type: "button", id: "check-links" }, "Check links");
  run.addEventListener("click", async () => {
    run.disabled = true;
    replace(results, h("p", { class: "note" }, "Checking…"));
    try {
      const checked = await api.linkCheck(message.ID, follow.checked);
      replace(results,
        h("p", {}, `${checked.Links.length} links, ${checked.Errors} with errors`),
        h("table", { class: "headers check-table" }, h("tbody", {},
          checked.Links.map((l) => h("tr", {}, h("td", {}, verdict(l.StatusCode && l.StatusCode < 400 ? "pass" : "fail")),
            h("td", {}, String(l.StatusCode)), h("td", {}, l.Status), h("td", { class: "reason" }, l.URL))))));
    } catch (error) {
      replace(results, offNote(error, "Could not check"));
    } finally {
      run.disabled = false;
    }
  });
  return section(
    "check-links-box",
    "Links",
    h("p", { class: "note" }, "Requests every link and image of the message (only when mailsink runs with --link-check)."),
    h("div", { class: "html-tools" }, run, h("label", {}, follow, " follow redirects")),
    results,
  );
}

/** Fill the Checks panel for a message: every check at once, links on request. */
export async function renderChecks(message, panel) {
  replace(panel, h("p", { class: "note" }, "Checking…"));
  const [auth, html, spam] = await Promise.all([authSection(message), htmlSection(message), spamSection(message)]);
  replace(panel, auth, html, unsubscribeSection(message), spam, linkSection(message));
}
