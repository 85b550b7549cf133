// Show one message: a compact header, the envelope folded to one line, attachments and inline
// images apart, then the body and its tabs (HTML, HTML source, text, headers, raw, parts, checks).
// After a message renders, document gets a "mailsink:message-shown" event ({id, tags, message}); the
// header's #m-tags holds its tags for whoever edits them.

import { api, emlUrl, htmlUrl, partUrl } from "./api.js";
import { renderChecks } from "./checks.js";
import { $, $$, at, h, replace } from "./dom.js";
import { formatAddress, formatFullTime, formatSize } from "./format.js";
import { renderRelayed } from "./relay.js";
import { highlightHtml } from "./source.js";

const PREVIEWABLE = new Set(["image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"]);
const RAW_LIMIT = 2_000_000;
// Addresses shown per header field before "and N more"; fewer on a phone.
const shownAddresses = () => (window.matchMedia("(max-width: 600px)").matches ? 1 : 3);
const FRAME_MIN = 120;
// Tallest frame: past this the frame scrolls itself (a hostile 10^7 px body stays cheap).
const FRAME_MAX = 30_000;
// Fits per load: enough for images that load late, bounded should a body keep changing size.
const FITS_PER_LOAD = 60;

let current = null; // { message, loaded: Set of tab names, remote }
let showToken = 0; // a newer show or a close makes an older show's late answer stale
let fitsLeft = 0;
let frameObserver = null;

/** Return the ID of the open message, or null. */
export const openId = () => (current ? current.message.ID : null);

function metaRows(pairs) {
  return pairs
    .filter(([, value]) => value !== "" && value !== null && value !== undefined && !(Array.isArray(value) && !value.length))
    .flatMap(([label, value]) => [h("dt", {}, label), h("dd", {}, value)]);
}

// An address is a link to the search for it (from:, to:, cc:...): a click runs it in place,
// a middle click opens it in a new tab. Quotes cannot be escaped in the query language, and an
// address never needs them, so they are dropped.
function addressLink(field, addr) {
  const text = formatAddress(addr);
  const address = (addr.Address || "").replaceAll('"', "").trim();
  if (!address) return h("span", {}, text);
  const query = `${field}:"${address}"`;
  return h("a", { class: "addr", href: at(`/?q=${encodeURIComponent(query)}`), dataset: { query }, title: `Search ${query}` }, text);
}

function addressList(field, list) {
  const all = (list || []).filter((a) => a && (a.Address || a.Name));
  if (!all.length) return [];
  const links = (items) => items.flatMap((addr, i) => (i ? [", ", addressLink(field, addr)] : [addressLink(field, addr)]));
  const shown = shownAddresses();
  if (all.length <= shown + 1) return links(all);
  // The rest is built when asked for: a mail to thousands costs nothing until then.
  const more = h("button", { type: "button", class: "more-addresses" }, `and ${all.length - shown} more`);
  more.addEventListener("click", () => {
    more.replaceWith(h("span", { class: "rest-addresses" }, ", ", links(all.slice(shown))));
  });
  return [links(all.slice(0, shown)), " ", more];
}

function renderMeta(message) {
  const date = message.Date ? formatFullTime(message.Date) : "";
  replace(
    $("#m-meta"),
    metaRows([
      ["From", message.From ? addressList("from", [message.From]) : ""],
      ["To", addressList("to", message.To)],
      ["Cc", addressList("cc", message.Cc)],
      ["Bcc", addressList("bcc", message.Bcc)],
      ["Reply-To", addressList("reply-to", message.ReplyTo)],
      ["Date", h("span", {}, date, h("span", { class: "m-size" }, `${date ? " · " : ""}${formatSize(message.Size)}`))],
    ]),
  );
  replace($("#m-tags"), (message.Tags || []).map((tag) => h("span", { class: "tag" }, tag)));
}

function renderEnvelope(envelope) {
  const box = $("#m-envelope-box");
  box.hidden = !envelope;
  box.open = false; // one summary line; the rows (every RCPT TO) on request
  if (!envelope) return;
  const count = (envelope.RcptTo || []).length;
  const parts = [
    `Envelope: ${envelope.MailFrom || "<>"} → ${count} recipient${count === 1 ? "" : "s"}`,
    envelope.TLS ? "TLS" : "",
    envelope.AuthUser ? `AUTH ${envelope.AuthUser}` : "",
    envelope.Helo ? `HELO ${envelope.Helo}` : "",
  ];
  $("#m-envelope-summary").textContent = parts.filter(Boolean).join(" · ");
  replace(
    $("#m-envelope"),
    metaRows([
      ["MAIL FROM", envelope.MailFrom || "<>"],
      ["RCPT TO", (envelope.RcptTo || []).join(", ")],
      ["HELO", envelope.Helo || ""],
      ["Peer", envelope.Peer || ""],
      ["TLS", envelope.TLS ? "yes" : "no"],
      ["AUTH user", envelope.AuthUser || "none"],
    ]),
  );
}

// One compact chip per file: a small preview for images, the name (a download), type and size.
function attachmentItem(id, part) {
  const url = partUrl(id, part.PartID);
  const name = part.FileName || `part ${part.PartID}`;
  const type = part.ContentType || "application/octet-stream";
  const preview = PREVIEWABLE.has(type.toLowerCase())
    ? h("img", { class: "preview", src: url, alt: "", loading: "lazy", referrerpolicy: "no-referrer" })
    : null;
  return h(
    "li",
    { class: "attachment", title: `${name}\n${type} · ${formatSize(part.Size)}` },
    preview,
    h(
      "a",
      { href: url, download: name, class: "attachment-link", title: `Download ${name}` },
      h("span", { class: "file-name" }, name),
    ),
    h("span", { class: "file-info" }, `${type} · ${formatSize(part.Size)}`),
  );
}

// Real attachments show as one row of chips; inline images (already in the body) fold away
// into one line of their own.
function renderAttachments(message) {
  const box = $("#m-attachments");
  const attachments = message.Attachments || [];
  const inline = message.Inline || [];
  box.hidden = !attachments.length && !inline.length;
  const groups = [];
  if (attachments.length) {
    groups.push(
      h(
        "div",
        { class: "attachment-group", id: "m-files" },
        h("h2", {}, `Attachments (${attachments.length})`),
        h("ul", { class: "attachment-list" }, attachments.map((p) => attachmentItem(message.ID, p))),
      ),
    );
  }
  if (inline.length) {
    groups.push(
      h(
        "details",
        { class: "attachment-group inline-parts", id: "m-inline" },
        h("summary", {}, `Inline images and parts (${inline.length}), shown in the body`),
        h("ul", { class: "attachment-list" }, inline.map((p) => attachmentItem(message.ID, p))),
      ),
    );
  }
  replace(box, groups);
}

// ---- the HTML frame takes its content's height ----------------------------------------------

function frameDocument() {
  try {
    return $("#m-html").contentDocument; // null once the frame shows another origin
  } catch {
    return null;
  }
}

/** Size the HTML frame to its document, so the page scrolls rather than the frame. */
function fitFrame() {
  const frame = $("#m-html");
  const doc = frameDocument();
  const root = doc && doc.documentElement;
  if (!root || fitsLeft <= 0 || !frame.isConnected) return;
  fitsLeft -= 1;
  // Measured in the smallest frame: a body in quirks mode (no doctype) or in vh units fills
  // whatever frame it gets, so only its scroll height there is its own height. Both writes
  // happen before the next paint, and the pane keeps its scroll position.
  const pane = $("#message-pane");
  const scrolled = pane.scrollTop;
  const chrome = frame.offsetHeight - frame.clientHeight; // borders
  frame.style.height = `${FRAME_MIN + chrome}px`;
  const content = Math.max(FRAME_MIN, Math.min(FRAME_MAX, root.scrollHeight));
  frame.style.height = `${content + chrome}px`;
  pane.scrollTop = scrolled;
}

function refitFrame() {
  fitsLeft = FITS_PER_LOAD;
  fitFrame();
}

function watchFrame() {
  if (frameObserver) frameObserver.disconnect();
  refitFrame();
  const doc = frameDocument();
  if (!doc || !doc.documentElement || typeof ResizeObserver !== "function") return;
  frameObserver = new ResizeObserver(() => fitFrame());
  frameObserver.observe(doc.documentElement);
  if (doc.body) frameObserver.observe(doc.body);
}

function setRemote(remote) {
  current.remote = remote;
  $("#m-html").src = htmlUrl(current.message.ID, remote);
  $("#remote").textContent = remote ? "Block remote content" : "Load remote content";
  const note = remote ? "Remote content is loaded for this message." : "Remote images, styles and fonts are blocked.";
  $("#remote-note").textContent = note;
  $("#remote").title = note; // the note itself is hidden on a phone
}

function treeNode(id, node) {
  const label = [node.ContentType, node.FileName ? `“${node.FileName}”` : "", node.Children.length ? "" : formatSize(node.Size)]
    .filter(Boolean)
    .join("  ");
  const leaf = !node.Children.length && node.PartID;
  const item = h(
    "li",
    {},
    h("code", { class: "part-id" }, node.PartID || "message"),
    " ",
    leaf ? h("a", { href: partUrl(id, node.PartID), download: node.FileName || `part-${node.PartID}` }, label) : h("span", {}, label),
  );
  if (node.Children.length) item.append(h("ul", {}, node.Children.map((child) => treeNode(id, child))));
  return item;
}

const loaders = {
  async source(message) {
    replace($("#m-source"), highlightHtml(message.HTML || ""));
  },
  async headers(message) {
    const headers = await api.headers(message.ID);
    const body = $("#m-headers tbody");
    replace(
      body,
      Object.entries(headers || {}).flatMap(([name, values]) =>
        (Array.isArray(values) ? values : [values]).map((value) => h("tr", {}, h("th", {}, name), h("td", {}, value))),
      ),
    );
  },
  async raw(message) {
    let text = await api.raw(message.ID);
    if (typeof text !== "string") text = JSON.stringify(text);
    const cut = text.length > RAW_LIMIT;
    replace($("#m-raw"), cut ? text.slice(0, RAW_LIMIT) : text, cut ? "\n\n[… cut here; download the .eml for the rest]" : "");
  },
  async checks(message) {
    await renderChecks(message, $("#m-checks"));
  },
  async parts(message) {
    const tree = await api.tree(message.ID);
    replace($("#m-parts"), h("ul", { class: "tree" }, treeNode(message.ID, tree.Tree)));
  },
};

/** Switch to a tab, loading its content on first use. */
export async function showTab(name) {
  for (const tab of $$(".tabs [role=tab]")) {
    const on = tab.dataset.tab === name;
    tab.setAttribute("aria-selected", on ? "true" : "false");
    tab.tabIndex = on ? 0 : -1;
    $(`#panel-${tab.dataset.tab}`).hidden = !on;
  }
  if (name === "html") requestAnimationFrame(refitFrame); // a hidden frame could not be measured
  if (!current || current.loaded.has(name) || !loaders[name]) return;
  current.loaded.add(name);
  const message = current.message;
  try {
    await loaders[name](message);
  } catch (error) {
    current.loaded.delete(name);
    replace($(`#panel-${name}`).firstElementChild, `Could not load: ${error.message}`);
  }
}

function setDownloads(message) {
  const links = [
    ["#download", emlUrl(message.ID), `${message.ID}.eml`, true],
    ["#download-html", at(`/view/${encodeURIComponent(message.ID)}.html?dl=1`), `${message.ID}.html`, Boolean(message.HTML)],
    ["#download-text", at(`/view/${encodeURIComponent(message.ID)}.txt?dl=1`), `${message.ID}.txt`, true],
  ];
  for (const [selector, url, name, present] of links) {
    const link = $(selector);
    link.href = url;
    link.setAttribute("download", name);
    link.hidden = !present;
  }
  $("#download-menu").open = false;
}

/**
 * Show a message fetched from the API (which marks it read); return the message JSON, or null
 * when another message was shown or the view closed while this one was on its way.
 */
export async function showMessage(id) {
  const token = ++showToken;
  const message = await api.message(id);
  if (token !== showToken) return null;
  current = { message, loaded: new Set(), remote: false };
  emptyView();
  $("#m-subject").textContent = message.Subject || "(no subject)";
  renderMeta(message);
  renderEnvelope(message.Envelope);
  renderAttachments(message);
  renderRelayed(message);
  $("#m-text").textContent = message.Text || "(this message has no plain-text body)";
  setDownloads(message);
  $("#tab-html").disabled = !message.HTML;
  $("#tab-source").disabled = !message.HTML;
  setReadButton(true);
  if (message.HTML) setRemote(false);
  else $("#m-html").removeAttribute("src");
  await showTab(message.HTML ? "html" : "text");
  const detail = { id: message.ID, tags: message.Tags || [], message };
  document.dispatchEvent(new CustomEvent("mailsink:message-shown", { detail }));
  return message;
}

const FILLED = ["#m-subject", "#m-meta", "#m-tags", "#m-envelope", "#m-attachments", "#m-text", "#m-source", "#m-headers tbody", "#m-raw", "#m-parts", "#m-checks"];

// Empty every part a message fills, so no tab shows the previous message while it loads.
function emptyView() {
  for (const selector of FILLED) $(selector).replaceChildren();
}

/** Close the message view, emptying it so nothing of the message stays behind. */
export function closeMessage() {
  showToken += 1;
  current = null;
  if (frameObserver) frameObserver.disconnect();
  $("#m-html").removeAttribute("src");
  emptyView();
}

/** Show the read toggle for the open message's state. */
export function setReadButton(read) {
  const button = $("#toggle-read");
  button.textContent = read ? "Mark unread" : "Mark read";
  button.dataset.read = read ? "1" : "0";
}

/** Wire the message view's own buttons (tabs, widths, remote content). */
export function wireMessageView() {
  for (const tab of $$(".tabs [role=tab]")) tab.addEventListener("click", () => showTab(tab.dataset.tab));
  for (const button of $$(".widths button")) {
    button.addEventListener("click", () => {
      $$(".widths button").forEach((b) => b.setAttribute("aria-pressed", b === button ? "true" : "false"));
      const wrap = $("#frame-wrap");
      wrap.classList.toggle("constrained", Boolean(button.dataset.width));
      wrap.style.maxWidth = button.dataset.width ? `${button.dataset.width}px` : "";
      requestAnimationFrame(refitFrame);
    });
  }
  $("#remote").addEventListener("click", () => current && setRemote(!current.remote));
  $("#m-html").addEventListener("load", () => {
    watchFrame();
    performance.mark("mailsink:message-html");
  });
  window.addEventListener("resize", () => requestAnimationFrame(refitFrame));
  $("#m-meta").addEventListener("click", (event) => {
    const link = event.target.closest("a.addr");
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    document.dispatchEvent(new CustomEvent("mailsink:search", { detail: { query: link.dataset.query } }));
  });
  // The download menu closes when a choice is made or the click is elsewhere.
  document.addEventListener("click", (event) => {
    const menu = $("#download-menu");
    if (menu.open && (!menu.contains(event.target) || event.target.closest("a"))) menu.open = false;
  });
}
