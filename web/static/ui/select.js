// Pick several messages of the page (a box per row, Shift-click for a range, x for the
// cursor's row) and act on them together from the bulk bar.

import { $ } from "./dom.js";
import { formatCount } from "./format.js";
import * as list from "./list.js";

const picked = new Set();
let anchor = null; // the ID a Shift-click extends from

/** Return the IDs picked, in list order. */
export const pickedIds = () => list.rows().map((row) => row.dataset.id).filter((id) => picked.has(id));

/** Show the picks on the rows and the bulk bar in place of the list toolbar. */
export function showPicks() {
  const rows = list.rows();
  for (const row of rows) {
    const on = picked.has(row.dataset.id);
    row.classList.toggle("checked", on);
    const box = row.querySelector("input.pick");
    if (box) box.checked = on;
  }
  const count = picked.size;
  $("#bulk-bar").hidden = !count;
  $("#list-toolbar").hidden = Boolean(count);
  $("#picked").textContent = `${formatCount(count)} selected`;
  const page = $("#pick-page");
  page.checked = Boolean(rows.length) && count === rows.length;
  page.indeterminate = Boolean(count) && count < rows.length;
  page.disabled = !rows.length;
}

/** Keep only the picks still shown (after a page load, a delete or a search). */
export function prunePicks() {
  const shown = new Set(list.rows().map((row) => row.dataset.id));
  for (const id of [...picked]) if (!shown.has(id)) picked.delete(id);
  if (anchor && !shown.has(anchor)) anchor = null;
  showPicks();
}

/** Drop every pick. */
export function clearPicks() {
  picked.clear();
  anchor = null;
  showPicks();
}

/** Pick or unpick one message; with `range`, every row from the last one picked to it. */
export function togglePick(id, range = false) {
  const on = !picked.has(id);
  const ids = list.rows().map((row) => row.dataset.id);
  const from = range && anchor ? ids.indexOf(anchor) : -1;
  const to = ids.indexOf(id);
  if (from >= 0 && to >= 0) {
    for (const each of ids.slice(Math.min(from, to), Math.max(from, to) + 1)) {
      if (on) picked.add(each);
      else picked.delete(each);
    }
  } else if (on) picked.add(id);
  else picked.delete(id);
  anchor = id;
  showPicks();
}

/** Pick every row of the page, or none when they all are. */
export function togglePage() {
  const ids = list.rows().map((row) => row.dataset.id);
  const all = ids.length && ids.every((id) => picked.has(id));
  picked.clear();
  if (!all) ids.forEach((id) => picked.add(id));
  anchor = null;
  showPicks();
}

/** Wire the boxes: a click on a row's box picks it (Shift: a range) without opening it. */
export function wirePicks() {
  $("#list").addEventListener("click", (event) => {
    const box = event.target.closest("input.pick");
    if (!box) return;
    event.stopPropagation();
    togglePick(box.closest("li").dataset.id, event.shiftKey);
  });
  // Shift-clicking a checkbox selects text in Chromium; the range is ours.
  $("#list").addEventListener("mousedown", (event) => {
    if (event.shiftKey && event.target.closest("input.pick")) event.preventDefault();
  });
  $("#pick-page").addEventListener("click", togglePage);
  $("#pick-none").addEventListener("click", (event) => {
    event.preventDefault();
    clearPicks();
  });
}
