// Show one message: summary, envelope, attachments and the HTML/text/headers/raw/parts tabs.

import { api, emlUrl, htmlUrl, partUrl } from "./api.js";
import { renderChecks } from "./checks.js";
import { $, $$, h, replace } from "./dom.js";
import { formatAddress, formatAddresses, formatFullTime, formatSize } from "./format.js";
import { renderRelayed } from "./relay.js";

const PREVIEWABLE = new Set(["image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"]);
const RAW_LIMIT = 2_000_000;

let current = null; // { message, loaded: Set of tab names, remote }

/** Return the ID of the open message, or null. */
export const openId = () => (current ? current.message.ID : null);

function metaRows(pairs) {
  return pairs
    .filter(([, value]) => value !== "" && value !== null && value !== undefined)
    .flatMap(([label, value]) => [h("dt", {}, label), h("dd", {}, value)]);
}

function renderMeta(message) {
  const tags = (message.Tags || []).map((tag) => h("span", { class: "tag" }, tag));
  replace(
    $("#m-meta"),
    metaRows([
      ["From", formatAddress(message.From)],
      ["To", formatAddresses(message.To)],
      ["Cc", formatAddresses(message.Cc)],
      ["Bcc", formatAddresses(message.Bcc)],
      ["Reply-To", formatAddresses(message.ReplyTo)],
      ["Date", message.Date ? formatFullTime(message.Date) : ""],
      ["Size", formatSize(message.Size)],
      ["Tags", tags.length ? h("span", {}, tags) : ""],
    ]),
  );
}

function renderEnvelope(envelope) {
  const box = $("#m-envelope-box");
  box.hidden = !envelope;
  if (!envelope) return;
  const count = (envelope.RcptTo || []).length;
  $("#m-envelope-summary").textContent = `SMTP envelope: ${envelope.MailFrom || "<>"} → ${count} recipient${count === 1 ? "" : "s"}${envelope.TLS ? ", TLS" : ""}`;
  box.open = window.matchMedia("(min-width: 601px)").matches;
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

function attachmentItem(id, part) {
  const url = partUrl(id, part.PartID);
  const name = part.FileName || `part ${part.PartID}`;
  const preview = PREVIEWABLE.has((part.ContentType || "").toLowerCase())
    ? h("img", { class: "preview", src: url, alt: name, loading: "lazy", referrerpolicy: "no-referrer" })
    : null;
  return h(
    "li",
    { class: "attachment" },
    preview,
    h(
      "a",
      { href: url, download: name, class: "attachment-link", title: `Download ${name}` },
      h("span", { class: "file-name" }, name),
    ),
    h("span", { class: "file-info" }, `${part.ContentType || "application/octet-stream"} · ${formatSize(part.Size)}`),
  );
}

function renderAttachments(message) {
  const box = $("#m-attachments");
  const attachments = message.Attachments || [];
  const inline = message.Inline || [];
  box.hidden = !attachments.length && !inline.length;
  const groups = [];
  if (attachments.length) {
    groups.push(h("h2", {}, `Attachments (${attachments.length})`));
    groups.push(h("ul", { class: "attachment-list" }, attachments.map((p) => attachmentItem(message.ID, p))));
  }
  if (inline.length) {
    groups.push(h("h2", {}, `Inline parts (${inline.length})`));
    groups.push(h("ul", { class: "attachment-list" }, inline.map((p) => attachmentItem(message.ID, p))));
  }
  replace(box, groups);
}

function setRemote(remote) {
  current.remote = remote;
  $("#m-html").src = htmlUrl(current.message.ID, remote);
  $("#remote").textContent = remote ? "Block remote content" : "Load remote content";
  $("#remote-note").textContent = remote
    ? "Remote content is loaded for this message."
    : "Remote images, styles and fonts are blocked.";
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

/** Show a message fetched from the API (which marks it read); return the message JSON. */
export async function showMessage(id) {
  const message = await api.message(id);
  current = { message, loaded: new Set(), remote: false };
  $("#m-subject").textContent = message.Subject || "(no subject)";
  renderMeta(message);
  renderEnvelope(message.Envelope);
  renderAttachments(message);
  renderRelayed(message);
  $("#m-text").textContent = message.Text || "(this message has no plain-text body)";
  $("#download").href = emlUrl(message.ID);
  $("#download").setAttribute("download", `${message.ID}.eml`);
  $("#tab-html").disabled = !message.HTML;
  setReadButton(true);
  if (message.HTML) setRemote(false);
  else $("#m-html").removeAttribute("src");
  await showTab(message.HTML ? "html" : "text");
  return message;
}

/** Close the message view. */
export function closeMessage() {
  current = null;
  $("#m-html").removeAttribute("src");
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
    });
  }
  $("#remote").addEventListener("click", () => current && setRemote(!current.remote));
  $("#m-html").addEventListener("load", () => performance.mark("mailsink:message-html"));
}
