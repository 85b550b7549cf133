// Desktop notifications: opt-in, one per new message, with the unread count.

import { $, at } from "./dom.js";
import { formatCount } from "./format.js";
import { onPrefChange, pref, setPref } from "./prefs.js";

const supported = () => typeof window.Notification === "function";
const allowed = () => supported() && Notification.permission === "granted";
const shown = new Set(); // message IDs already notified: a resync or a second event does not repeat one

function showState() {
  const toggle = $("#notify-toggle");
  const note = $("#notify-note");
  if (!supported()) {
    toggle.disabled = true;
    note.textContent = "This browser has no desktop notifications.";
    return;
  }
  toggle.checked = pref("notify") === "1" && allowed();
  toggle.disabled = Notification.permission === "denied";
  note.textContent =
    Notification.permission === "denied"
      ? "Notifications are blocked for this site in the browser's settings."
      : pref("notify") === "1" && !allowed()
        ? "Waiting for the browser's permission."
        : "";
}

/** Notify of one new message (its summary from the event stream) if the reader opted in. */
export function notifyNew(summary, unread) {
  if (pref("notify") !== "1" || !allowed() || !summary.ID || shown.has(summary.ID)) return;
  shown.add(summary.ID);
  if (shown.size > 1000) shown.delete(shown.values().next().value);
  const from = summary.From ? summary.From.Name || summary.From.Address : "(no sender)";
  const count = Number(unread) || 0;
  const note = new Notification(count ? `New mail · ${formatCount(count)} unread` : "New mail", {
    body: `${from}\n${summary.Subject || "(no subject)"}`,
    tag: `mailsink-${summary.ID}`,
    icon: at("/ui/static/favicon.svg"),
  });
  note.addEventListener("click", () => {
    window.focus();
    document.dispatchEvent(new CustomEvent("mailsink:open", { detail: { id: summary.ID } }));
  });
}

/** Wire the notifications switch of the settings menu: asking the browser first. */
export function wireNotifications() {
  showState();
  onPrefChange((name) => name === "notify" && showState());
  $("#notify-toggle").addEventListener("change", async (event) => {
    if (!event.target.checked) return setPref("notify", "0");
    setPref("notify", "1");
    if (Notification.permission === "default") await Notification.requestPermission();
    if (!allowed()) setPref("notify", "0");
    showState();
  });
}
