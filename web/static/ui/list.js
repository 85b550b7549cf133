// Render the message list: one row per summary, newest first, read state and selection.
// (The cursor is the row marked "selected"; the boxes ticked for bulk actions are select.js's.)

import { $, at, clipIcon, h } from "./dom.js";
import { formatAddresses, formatFullTime, formatShortTime, formatSize, shortAddress } from "./format.js";
import { tagChip } from "./tags.js";

const list = () => $("#list");

/** Build the row for one message summary. */
export function renderRow(summary) {
  const id = summary.ID;
  const recipients = formatAddresses(summary.To, true) || formatAddresses(summary.Bcc, true);
  const from = shortAddress(summary.From) || (summary.Envelope && summary.Envelope.MailFrom) || "(no sender)";
  const link = h(
    "a",
    { class: "row-link", href: at(`/message/${encodeURIComponent(id)}`), tabindex: "-1" },
    h(
      "div",
      { class: "row-top" },
      h("span", { class: "from", title: summary.From ? summary.From.Address : "" }, from),
      summary.Attachments ? h("span", { class: "clip-wrap", title: `${summary.Attachments} attachment(s)` }, clipIcon()) : null,
      h("time", { class: "when", datetime: summary.Created, title: formatFullTime(summary.Created) }, formatShortTime(summary.Created)),
    ),
    h("div", { class: "subject" }, summary.Subject || "(no subject)"),
    h("div", { class: "snippet" }, summary.Snippet || ""),
    h(
      "div",
      { class: "row-meta" },
      h("span", { class: "to" }, recipients ? `To: ${recipients}` : ""),
      (summary.Tags || []).map(tagChip),
      h("span", { class: "size" }, formatSize(summary.Size)),
    ),
  );
  return h(
    "li",
    {
      class: summary.Read ? "row" : "row unread",
      role: "option",
      "aria-selected": "false",
      dataset: { id },
    },
    h("input", { type: "checkbox", class: "pick", tabindex: "-1", "aria-label": "Select" }),
    link,
  );
}

/** Replace the list with these summaries. */
export function renderList(summaries) {
  list().replaceChildren(...summaries.map(renderRow));
}

/** Add a row at the top, keeping at most `limit` rows; return false if it was there. */
export function prependRow(summary, limit) {
  if (rowFor(summary.ID)) return false;
  list().prepend(renderRow(summary));
  while (list().children.length > limit) list().lastElementChild.remove();
  return true;
}

/** Return the row element of a message, or null. */
export function rowFor(id) {
  for (const row of list().children) if (row.dataset.id === id) return row;
  return null;
}

/** Return every row element. */
export const rows = () => Array.from(list().children);

/** Show a message as read or unread in the list. */
export function setRowRead(id, read) {
  const row = rowFor(id);
  if (row) row.classList.toggle("unread", !read);
}

/** Show new tags on a row. */
export function setRowTags(id, tags) {
  const row = rowFor(id);
  if (!row) return;
  const meta = row.querySelector(".row-meta");
  meta.querySelectorAll(".tag").forEach((el) => el.remove());
  const size = meta.querySelector(".size");
  for (const tag of tags) meta.insertBefore(tagChip(tag), size);
}

/** Return the tags a row shows. */
export function rowTags(id) {
  const row = rowFor(id);
  return row ? Array.from(row.querySelectorAll(".row-meta .tag"), (chip) => chip.dataset.tag) : [];
}

/** Return whether a row shows its message as read. */
export const rowRead = (id) => Boolean(rowFor(id)) && !rowFor(id).classList.contains("unread");

/** Remove rows; return how many were removed. */
export function removeRows(ids) {
  let removed = 0;
  for (const id of ids) {
    const row = rowFor(id);
    if (row) {
      row.remove();
      removed += 1;
    }
  }
  return removed;
}

/** Mark one row selected (by index, clamped) and scroll it into view; return its ID. */
export function select(index) {
  const all = rows();
  if (!all.length) return null;
  const wanted = Math.max(0, Math.min(index, all.length - 1));
  all.forEach((row, i) => {
    const on = i === wanted;
    row.classList.toggle("selected", on);
    row.setAttribute("aria-selected", on ? "true" : "false");
  });
  all[wanted].scrollIntoView({ block: "nearest" });
  return all[wanted].dataset.id;
}

/** Return the index of the selected row, or -1. */
export function selectedIndex() {
  return rows().findIndex((row) => row.classList.contains("selected"));
}

/** Select the row of a message if it is shown. */
export function selectId(id) {
  const index = rows().findIndex((row) => row.dataset.id === id);
  if (index >= 0) select(index);
  return index;
}
