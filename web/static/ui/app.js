// Wire the page: routing, list paging and search, live events, actions and keyboard.

import { api } from "./api.js";
import { $, $$, at, base } from "./dom.js";
import { formatCount } from "./format.js";
import { wireKeys } from "./keys.js";
import * as list from "./list.js";
import { connectEvents, showUnread } from "./live.js";
import { wireFaults } from "./faults.js";
import { closeMessage, openId, setReadButton, showMessage, wireMessageView } from "./message.js";
import { notifyNew, wireNotifications } from "./notify.js";
import { wirePrefs } from "./prefs.js";
import { openRelease, relayEnabled, wireRelease } from "./relay.js";
import * as picks from "./select.js";
import { refreshTags, showActiveQuery, showMessageTags, tagMessages, wireTags } from "./tags.js";

const LIMIT = 50;
const state = { query: "", start: 0, total: 0, unread: 0, matched: 0, matchedUnread: 0, openId: null, subject: "", queryError: "" };
let loadToken = 0;
let tagsCounted = false;
let loading = null; // the AbortController of the page request in flight
const PROGRESS_DELAY = 150; // ms before a slow page shows its progress bar
let refreshTimer = null;
let pendingNew = [];

function markPainted(name) {
  if (performance.getEntriesByName(name).length) return;
  requestAnimationFrame(() => setTimeout(() => performance.mark(name), 0));
}

// ---- routing -------------------------------------------------------------------------------

function currentUrl() {
  const path = state.openId ? `/message/${encodeURIComponent(state.openId)}` : "/";
  const params = new URLSearchParams();
  if (state.query) params.set("q", state.query);
  if (state.start) params.set("start", String(state.start));
  const search = params.toString();
  return at(search ? `${path}?${search}` : path);
}

function navigate(push) {
  const url = currentUrl();
  if (url !== location.pathname + location.search) history[push ? "pushState" : "replaceState"]({}, "", url);
}

function readLocation() {
  const url = new URL(location.href);
  state.query = (url.searchParams.get("q") || "").trim();
  state.start = Math.max(0, parseInt(url.searchParams.get("start") || "0", 10) || 0);
  const path = url.pathname.startsWith(base + "/") ? url.pathname.slice(base.length) : url.pathname;
  const match = path.match(/^\/message\/([^/]+)$/);
  return match ? decodeURIComponent(match[1]) : null;
}

// ---- list ----------------------------------------------------------------------------------

function showSearchError(message) {
  const box = $("#search-error");
  box.textContent = message;
  box.hidden = !message;
  $("#search").setAttribute("aria-invalid", message ? "true" : "false");
}

// A search the API refused (400): its message replaces the list, and bulk actions are off
// because "all matching" means nothing for a query that does not parse.
function showQueryError(message) {
  state.queryError = message;
  const box = $("#query-error");
  box.textContent = message;
  box.hidden = !message;
  $("#search").setAttribute("aria-invalid", message ? "true" : "false");
}

function updateChrome() {
  const { query, total, unread, matched, matchedUnread, start, queryError } = state;
  // Short enough to sit beside two buttons in the 440 px pane at 10,000 messages.
  const full = `${formatCount(total)} message${total === 1 ? "" : "s"}, ${formatCount(unread)} unread`;
  $("#counts").textContent = queryError
    ? `Invalid search · ${formatCount(total)}`
    : query
      ? `${formatCount(matched)} of ${formatCount(total)} match`
      : unread
        ? `${formatCount(total)} · ${formatCount(unread)} unread`
        : `${formatCount(total)} message${total === 1 ? "" : "s"}`;
  $("#counts").title = full;
  const shown = list.rows().length;
  $("#pager").hidden = matched <= LIMIT && start === 0;
  $("#range").textContent = shown ? `${formatCount(start + 1)}–${formatCount(start + shown)} of ${formatCount(matched)}` : "";
  $("#newer").disabled = start === 0;
  $("#older").disabled = start + LIMIT >= matched;
  $("#empty").hidden = Boolean(total || query);
  $("#no-results").hidden = !(query && !matched) || Boolean(queryError);
  $("#no-results").textContent = `No messages match ${query}.`;
  // With a search, "Mark all read" marks the matches: nothing to do when none is unread.
  // (matchedUnread is as of the last load; a row marked unread since then counts too.)
  const unreadMatches = query ? matchedUnread || list.rows().some((row) => row.classList.contains("unread")) : unread;
  $("#mark-all-read").disabled = !unreadMatches || Boolean(queryError);
  $("#delete-all").disabled = !(query ? matched : total) || Boolean(queryError);
  $("#delete-all").textContent = query ? "Delete matching" : "Delete all";
  document.body.classList.toggle("is-empty", !total && !query);
  // Prev/next step through this page's rows like k/j; they do not cross pages.
  const index = list.selectedIndex();
  $("#prev-message").disabled = index <= 0;
  $("#next-message").disabled = index < 0 || index >= shown - 1;
  showUnread(unread, state.subject);
}

function setCounts(data) {
  if (typeof data.Total === "number") state.total = data.Total;
  if (typeof data.Unread === "number") state.unread = data.Unread;
  if (!state.query) {
    state.matched = state.total; // without a search, every message matches
    state.matchedUnread = state.unread;
  }
}

function showProgress(on) {
  $("#progress").hidden = !on;
  $("#list").setAttribute("aria-busy", String(on));
}

async function loadPage() {
  const token = ++loadToken;
  const selectedId = list.rows()[list.selectedIndex()]?.dataset.id;
  // A newer search supersedes the one in flight: cancel it rather than let it hold a
  // connection and the server's time (a broad free-text search can take a second).
  if (loading) loading.abort();
  const controller = (loading = new AbortController());
  const progress = setTimeout(() => token === loadToken && showProgress(true), PROGRESS_DELAY);
  let data;
  try {
    data = state.query
      ? await api.search(state.query, state.start, LIMIT, controller.signal)
      : await api.list(state.start, LIMIT, controller.signal);
  } catch (error) {
    if (token !== loadToken || error.name === "AbortError") return;
    clearTimeout(progress);
    showProgress(false);
    if (error.status === 400 && state.query) {
      showSearchError("");
      showQueryError(error.message);
      state.matched = 0;
      list.renderList([]);
      updateChrome();
    } else showSearchError(`Could not load messages: ${error.message}`);
    return;
  }
  if (token !== loadToken || !data) return;
  clearTimeout(progress);
  showProgress(false);
  loading = null;
  showSearchError("");
  showQueryError("");
  state.total = data.total ?? 0;
  state.unread = data.unread ?? 0;
  state.matched = data.messages_count ?? data.total ?? 0;
  state.matchedUnread = data.messages_unread ?? state.unread;
  const messages = data.messages || [];
  if (!messages.length && state.start > 0 && state.matched > 0) {
    state.start = Math.floor((state.matched - 1) / LIMIT) * LIMIT;
    navigate(false);
    return loadPage();
  }
  pendingNew = [];
  list.renderList(messages);
  const keep = state.openId || selectedId;
  if (keep) list.selectId(keep);
  picks.prunePicks();
  showActiveQuery(state.query);
  updateChrome();
  markPainted("mailsink:list");
  if (!tagsCounted) {
    tagsCounted = true;
    refreshTags(200); // after the first page, so the count never delays the list's paint
  }
}

function scheduleRefresh(delay = 250) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(loadPage, delay);
}

function flushNew() {
  const batch = pendingNew;
  pendingNew = [];
  for (const summary of batch) list.prependRow(summary, LIMIT);
  updateChrome();
}

// ---- message -------------------------------------------------------------------------------

function showPane(open) {
  document.body.classList.toggle("viewing", open);
  $("#message-pane").hidden = !open;
  $("#placeholder").hidden = open;
}

async function openMessage(id, push = true) {
  state.openId = id;
  list.selectId(id);
  if (push) navigate(true);
  showPane(true);
  $("#message").classList.add("loading");
  try {
    const message = await showMessage(id);
    if (!message || state.openId !== id) return; // superseded while it loaded
    state.openId = message.ID;
    state.subject = message.Subject || "(no subject)";
    list.setRowRead(message.ID, true);
    list.selectId(message.ID);
    if (id !== message.ID) navigate(false);
    updateChrome();
    markPainted("mailsink:message");
  } catch (error) {
    if (state.openId !== id) return;
    $("#m-subject").textContent = error.status === 404 ? "This message no longer exists." : `Could not open: ${error.message}`;
  } finally {
    $("#message").classList.remove("loading");
  }
  $("#message-pane").scrollTop = 0;
}

function leaveMessage(push = true) {
  if (!state.openId) return;
  state.openId = null;
  state.subject = "";
  closeMessage();
  showPane(false);
  if (push) navigate(true);
  updateChrome();
}

// ---- actions -------------------------------------------------------------------------------

function confirmDialog(text, okLabel) {
  const dialog = $("#confirm-dialog");
  $("#confirm-text").textContent = text;
  $("#confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

function targetId() {
  return state.openId || list.rows()[list.selectedIndex()]?.dataset.id || null;
}

async function deleteOne() {
  const id = targetId();
  if (!id) return;
  const index = list.rows().findIndex((row) => row.dataset.id === id);
  const wasOpen = state.openId === id;
  try {
    await api.remove([id]);
  } catch (error) {
    showSearchError(`Could not delete: ${error.message}`);
    return;
  }
  if (list.removeRows([id])) {
    if (state.query) state.matched = Math.max(0, state.matched - 1);
    else setCounts({ Total: Math.max(0, state.total - 1) });
  }
  const nextId = list.select(Math.max(0, index));
  if (wasOpen) {
    if (nextId && window.matchMedia("(min-width: 1000px)").matches) openMessage(nextId, false).then(() => navigate(false));
    else {
      leaveMessage(false);
      navigate(false);
    }
  }
  scheduleRefresh();
}

async function toggleRead() {
  const id = targetId();
  if (!id) return;
  const row = list.rowFor(id);
  const read = state.openId === id ? $("#toggle-read").dataset.read === "1" : row && !row.classList.contains("unread");
  try {
    await api.setRead([id], !read);
  } catch (error) {
    showSearchError(`Could not update: ${error.message}`);
    return;
  }
  list.setRowRead(id, !read);
  if (state.openId === id) setReadButton(!read);
}

async function markAllRead() {
  try {
    await api.setReadAll(state.query, true);
  } catch (error) {
    showSearchError(`Could not update: ${error.message}`);
    return;
  }
  list.rows().forEach((row) => row.classList.remove("unread"));
  scheduleRefresh(0);
}

async function deleteAll() {
  const what = state.query
    ? `Delete the ${formatCount(state.matched)} messages matching “${state.query}”?`
    : `Delete all ${formatCount(state.total)} messages?`;
  if (!(await confirmDialog(what, "Delete"))) return;
  try {
    await api.removeAll(state.query);
  } catch (error) {
    showSearchError(`Could not delete: ${error.message}`);
    return;
  }
  leaveMessage(false);
  state.start = 0;
  navigate(false);
  await loadPage();
}

// ---- the picked messages ------------------------------------------------------------------

async function bulk(what, run) {
  const ids = picks.pickedIds();
  if (!ids.length) return;
  try {
    await run(ids);
  } catch (error) {
    showSearchError(`Could not ${what}: ${error.message}`);
    return;
  }
  return ids;
}

async function bulkRead(read) {
  const ids = await bulk("update", (ids) => api.setRead(ids, read));
  if (!ids) return;
  for (const id of ids) list.setRowRead(id, read);
  if (ids.includes(state.openId)) setReadButton(read);
  scheduleRefresh();
}

async function bulkDelete() {
  const count = picks.pickedIds().length;
  if (!count || !(await confirmDialog(`Delete ${formatCount(count)} selected message${count === 1 ? "" : "s"}?`, "Delete"))) return;
  const ids = await bulk("delete", (ids) => api.remove(ids));
  if (!ids) return;
  if (ids.includes(state.openId)) {
    leaveMessage(false);
    navigate(false);
  }
  const removed = list.removeRows(ids);
  if (state.query) state.matched = Math.max(0, state.matched - removed);
  else setCounts({ Total: Math.max(0, state.total - removed) });
  picks.clearPicks();
  updateChrome();
  scheduleRefresh();
}

async function bulkTag() {
  const current = new Map(picks.pickedIds().map((id) => [id, list.rowTags(id)]));
  if (!current.size) return;
  try {
    await tagMessages(current);
  } catch (error) {
    showSearchError(`Could not tag: ${error.message}`);
  }
}

function pickCursor() {
  const id = list.rows()[list.selectedIndex()]?.dataset.id || list.select(0);
  if (id) picks.togglePick(id);
}

function move(step) {
  const index = list.selectedIndex();
  const id = list.select(index < 0 ? 0 : index + step);
  if (id && state.openId && id !== state.openId) openMessage(id, false).then(() => navigate(false));
}

function goPage(step) {
  const start = state.start + step * LIMIT;
  if (start < 0 || (step > 0 && start >= state.matched)) return;
  state.start = start;
  // The open message belongs to the page we are leaving: close it rather than leave it
  // showing with no row selected.
  if (state.openId) leaveMessage(false);
  navigate(true);
  $("#list").scrollTop = 0;
  loadPage();
}

function runSearch(push) {
  const query = $("#search").value.trim();
  if (query === state.query) return;
  state.query = query;
  state.start = 0;
  picks.clearPicks();
  navigate(push);
  loadPage();
}

/** Search for a query as if typed and submitted (a tag chip, the tag list). */
function searchFor(query) {
  $("#search").value = query;
  clearTimeout(refreshTimer);
  if (query === state.query && !state.start) return;
  state.query = "\u0000"; // force a new search even when the text is the same
  if (state.openId) leaveMessage(false);
  runSearch(true);
}

// ---- wiring --------------------------------------------------------------------------------

function wire() {
  wirePrefs();
  wireNotifications();
  wireMessageView();
  picks.wirePicks();
  wireTags(searchFor);
  api
    .webui()
    .then(async (config) => {
      await wireRelease(config);
      $("#bulk-release").hidden = !relayEnabled();
      wireFaults(config);
    })
    .catch(() => {});
  $("#bulk-read").addEventListener("click", () => bulkRead(true));
  $("#bulk-unread").addEventListener("click", () => bulkRead(false));
  $("#bulk-delete").addEventListener("click", bulkDelete);
  $("#bulk-tag").addEventListener("click", bulkTag);
  $("#bulk-release").addEventListener("click", () => openRelease(picks.pickedIds()));
  document.addEventListener("mailsink:open", (event) => event.detail && openMessage(event.detail.id));
  $("#list").addEventListener("click", (event) => {
    const link = event.target.closest("a.row-link");
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    openMessage(link.closest("li").dataset.id);
  });
  $("#search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(refreshTimer);
    runSearch(true);
  });
  let typing = null;
  $("#search").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => runSearch(false), 350);
  });
  $("#search-help-button").addEventListener("click", () => {
    const help = $("#search-help");
    help.hidden = !help.hidden;
    $("#search-help-button").setAttribute("aria-expanded", String(!help.hidden));
  });
  $("#search-help").addEventListener("click", (event) => {
    const code = event.target.closest("dt code");
    if (!code) return;
    const input = $("#search");
    input.value = `${input.value.trim()} ${code.textContent}`.trim();
    input.focus();
  });
  $("#home").addEventListener("click", (event) => {
    event.preventDefault();
    $("#search").value = "";
    leaveMessage(false);
    state.query = "";
    state.start = 0;
    navigate(true);
    loadPage();
  });
  $("#newer").addEventListener("click", () => goPage(-1));
  $("#older").addEventListener("click", () => goPage(1));
  $("#back").addEventListener("click", () => leaveMessage());
  $("#prev-message").addEventListener("click", () => move(-1));
  $("#next-message").addEventListener("click", () => move(1));
  // A click on an address in the message header searches for it (message.js).
  document.addEventListener("mailsink:search", (event) => {
    $("#search").value = event.detail.query;
    if (!window.matchMedia("(min-width: 1000px)").matches) leaveMessage(false); // show the list
    runSearch(true);
  });
  $("#delete-one").addEventListener("click", deleteOne);
  $("#toggle-read").addEventListener("click", toggleRead);
  $("#mark-all-read").addEventListener("click", markAllRead);
  $("#delete-all").addEventListener("click", deleteAll);
  window.addEventListener("popstate", () => {
    const before = `${state.query}\n${state.start}`;
    const id = readLocation();
    $("#search").value = state.query;
    if (before !== `${state.query}\n${state.start}`) loadPage();
    if (id) openMessage(id, false);
    else leaveMessage(false);
  });
  wireKeys({
    next: () => move(1),
    previous: () => move(-1),
    open: () => {
      const id = list.rows()[list.selectedIndex()]?.dataset.id;
      if (id) openMessage(id);
    },
    close: () => {
      if (!$("#search-help").hidden) $("#search-help-button").click();
      else if (document.body.classList.contains("tags-open")) $("#tags-button").click();
      else if (picks.pickedIds().length) picks.clearPicks();
      else if (state.openId) leaveMessage();
    },
    pick: pickCursor,
    search: () => $("#search").focus(),
    delete: deleteOne,
    toggleRead,
    newer: () => goPage(-1),
    older: () => goPage(1),
    help: () => $("#help-dialog").showModal(),
  });
  connectEvents({
    new: (data) => {
      setCounts(data);
      notifyNew(data, data.Unread);
      if (data.Tags && data.Tags.length) refreshTags();
      if (state.start !== 0) return updateChrome();
      if (state.query) return scheduleRefresh();
      if (!data.ID) return scheduleRefresh();
      if (!pendingNew.length) setTimeout(flushNew, 30);
      pendingNew.push(data);
    },
    update: (data) => {
      setCounts(data);
      for (const id of data.IDs || []) {
        if (typeof data.Read === "boolean") {
          list.setRowRead(id, data.Read);
          if (id === openId()) setReadButton(data.Read);
        }
        if (Array.isArray(data.Tags)) {
          list.setRowTags(id, data.Tags);
          showMessageTags(id, data.Tags, state.openId);
        }
      }
      if (Array.isArray(data.Tags)) refreshTags();
      else if (typeof data.Read !== "boolean") {
        refreshTags(); // a tag renamed or removed everywhere: rows and counts are read again
        scheduleRefresh();
      }
      updateChrome();
    },
    delete: (data) => {
      setCounts(data);
      const ids = data.IDs || [];
      if (state.openId && ids.includes(state.openId)) {
        leaveMessage(false);
        navigate(false);
      }
      const removed = list.removeRows(ids);
      if (state.query) state.matched = Math.max(0, state.matched - removed);
      picks.prunePicks();
      refreshTags();
      updateChrome();
      scheduleRefresh();
    },
    truncate: (data) => {
      setCounts(data);
      leaveMessage(false);
      navigate(false);
      list.renderList([]);
      picks.clearPicks();
      refreshTags();
      scheduleRefresh(0);
    },
    resync: () => {
      refreshTags();
      scheduleRefresh(0);
    },
  });
}

function start() {
  wire();
  const id = readLocation();
  $("#search").value = state.query;
  loadPage();
  if (id) openMessage(id, false);
}

start();
