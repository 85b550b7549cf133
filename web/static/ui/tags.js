// Tags: the tag list with counts (a sidebar on wide screens, a drawer on narrow ones), chips
// that filter by their tag, the editor on the open message, and tagging the picked messages.

import { api } from "./api.js";
import { $, $$, at, h, replace } from "./dom.js";
import { formatCount } from "./format.js";

let search = () => {}; // set by wireTags: runs a search as if typed
let known = []; // every tag in use, from the last count
let refreshTimer = null;

/** Return the search that finds one tag (quoted when it has a space or a quote). */
export const tagQuery = (tag) => (/[\s"]/.test(tag) ? `tag:"${tag.replace(/"/g, "")}"` : `tag:${tag}`);

/** Return a chip for a tag: a click on it filters the list by that tag. */
export const tagChip = (tag) => h("span", { class: "tag", dataset: { tag }, title: `Show the messages tagged ${tag}` }, tag);

function openDrawer(open) {
  document.body.classList.toggle("tags-open", open);
  $("#tags-button").setAttribute("aria-expanded", String(open));
  if (open) refreshIfStale();
}

/** Mark the sidebar entry of the current search. */
export function showActiveQuery(query) {
  for (const link of $$("#tag-pane a.tag-link")) {
    link.setAttribute("aria-current", String(link.dataset.query === query));
  }
}

let countsAsked = 0; // numbers each count: only the newest one's answer is shown

async function refresh() {
  const asked = ++countsAsked;
  let counts;
  try {
    counts = await api.tagCounts();
  } catch {
    return; // the list shows connection trouble; the sidebar keeps its last counts
  }
  // Counts asked for before a change can arrive after those asked for since: keep the newer.
  if (asked !== countsAsked) return;
  known = Object.keys(counts);
  replace(
    $("#tag-counts"),
    Object.entries(counts).map(([tag, count]) =>
      h(
        "li",
        {},
        h(
          "a",
          { class: "tag-link", href: at(`/?q=${encodeURIComponent(tagQuery(tag))}`), dataset: { query: tagQuery(tag) } },
          h("span", { class: "tag-name" }, tag),
          h("span", { class: "tag-count" }, formatCount(count)),
        ),
      ),
    ),
  );
  $("#tag-none").hidden = known.length > 0;
  replace($("#tag-names"), known.map((tag) => h("option", { value: tag })));
  showActiveQuery($("#search").value.trim());
}

const wide = window.matchMedia("(min-width: 1400px)"); // where the tag list is a sidebar
let stale = true; // counts changed while nobody could see them

const listShown = () => wide.matches || document.body.classList.contains("tags-open");

/** Count the tags again soon (many events in a row make one request), or once they show.
 *
 * Counting reads every message's tags on the server: while the list is hidden (a narrow
 * screen, drawer closed) it waits until the drawer opens or a tag is being typed. */
export function refreshTags(delay = 300) {
  clearTimeout(refreshTimer);
  stale = true;
  if (listShown()) refreshTimer = setTimeout(refreshNow, delay);
}

function refreshNow() {
  stale = false;
  refresh();
}

/** Count the tags now if they changed since the last count (the drawer opens, a tag is typed). */
function refreshIfStale() {
  if (stale) refreshNow();
}

// ---- the editor on the open message ---------------------------------------------------------

function renderEditor(id, tags) {
  let box = $("#m-tags");
  if (!box) return;
  const save = async (next) => {
    try {
      await api.setTags([id], next);
    } catch (error) {
      box.querySelector(".tag-error").textContent = error.message;
      return;
    }
    renderEditor(id, next);
    refreshTags(0);
  };
  const input = h("input", {
    type: "text",
    class: "tag-input",
    list: "tag-names",
    maxlength: "100",
    placeholder: "Add tag",
    "aria-label": "Add a tag to this message",
    spellcheck: "false",
    autocomplete: "off",
  });
  input.addEventListener("focus", refreshIfStale); // its suggestions are the tags in use
  input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    const tag = input.value.trim();
    if (tag && !tags.some((t) => t.toLowerCase() === tag.toLowerCase())) save([...tags, tag]);
  });
  replace(
    box,
    h("span", { class: "tag-label" }, "Tags"),
    tags.map((tag) =>
      h(
        "span",
        { class: "tag-edit" },
        tagChip(tag),
        h(
          "button",
          { type: "button", class: "tag-drop", title: `Remove the tag ${tag}`, "aria-label": `Remove the tag ${tag}`, onclick: () => save(tags.filter((t) => t !== tag)) },
          "×",
        ),
      ),
    ),
    input,
    h("span", { class: "tag-error", role: "alert" }),
  );
  box.hidden = false;
}

/** Show the tag editor of the message just shown (its tags given, or read from the API). */
async function showEditor(detail) {
  const id = detail && detail.id;
  if (!id) return;
  let tags = detail.tags;
  if (!Array.isArray(tags)) {
    try {
      tags = (await api.peek(id)).Tags || [];
    } catch {
      return;
    }
  }
  renderEditor(id, tags);
}

/** Show changed tags in the editor when they belong to the open message. */
export function showMessageTags(id, tags, openId) {
  if (id === openId && $("#m-tags")) renderEditor(id, tags);
}

// ---- tagging the picked messages -----------------------------------------------------------

/** Ask for a tag and add it to (or remove it from) these messages, whose current tags are given. */
export async function tagMessages(current) {
  const dialog = $("#tag-dialog");
  $("#tag-name").value = "";
  $("#tag-result").textContent = "";
  $("#tag-dialog-title").textContent = `Tag ${formatCount(current.size)} message${current.size === 1 ? "" : "s"}`;
  dialog.returnValue = "";
  dialog.showModal();
  refreshIfStale();
  const action = await new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue), { once: true }));
  const tag = $("#tag-name").value.trim();
  if (!tag || (action !== "add" && action !== "remove")) return false;
  // PUT /api/v1/tags replaces tags: one request per distinct resulting set.
  const groups = new Map();
  for (const [id, tags] of current) {
    const kept = tags.filter((t) => t.toLowerCase() !== tag.toLowerCase());
    const next = action === "add" ? [...kept, tag] : kept;
    const key = JSON.stringify(next);
    if (!groups.has(key)) groups.set(key, { tags: next, ids: [] });
    groups.get(key).ids.push(id);
  }
  for (const { tags, ids } of groups.values()) await api.setTags(ids, tags);
  refreshTags(0);
  return true;
}

/** Wire chips, the sidebar, the drawer button and the editor hook; `run(query)` searches. */
export function wireTags(run) {
  search = run;
  document.addEventListener("click", (event) => {
    const chip = event.target.closest(".tag[data-tag]");
    const link = event.target.closest("#tag-pane a.tag-link");
    if (chip) {
      event.preventDefault();
      event.stopPropagation();
      search(tagQuery(chip.dataset.tag));
    } else if (link && event.button === 0 && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      search(link.dataset.query);
      openDrawer(false);
    } else if (document.body.classList.contains("tags-open") && !event.target.closest("#tag-pane, #tags-button")) {
      openDrawer(false);
    }
  }, true);
  $("#tags-button").addEventListener("click", () => openDrawer(!document.body.classList.contains("tags-open")));
  document.addEventListener("mailsink:message-shown", (event) => showEditor(event.detail));
  wide.addEventListener("change", () => wide.matches && refreshIfStale());
}
