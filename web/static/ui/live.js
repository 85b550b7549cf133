// Follow the Server-Sent Events stream, and show the unread count in the title and favicon.

import { $, at } from "./dom.js";

const KINDS = ["new", "update", "delete", "truncate"];

/** Open the event stream and call handlers[kind](data); resync after a reconnect. */
export function connectEvents(handlers) {
  const status = $("#live");
  let wasOpen = false;
  let lost = false;
  const source = new EventSource(at("/api/v1/events"));
  source.addEventListener("open", () => {
    status.textContent = "live";
    status.className = "live on";
    if (lost && handlers.resync) handlers.resync();
    wasOpen = true;
    lost = false;
  });
  source.addEventListener("error", () => {
    status.textContent = source.readyState === EventSource.CLOSED ? "offline" : "reconnecting…";
    status.className = "live off";
    lost = wasOpen || lost;
  });
  // The server sends "resync" when this client fell behind and events were dropped.
  source.addEventListener("resync", () => handlers.resync && handlers.resync());
  for (const kind of KINDS) {
    source.addEventListener(kind, (event) => {
      let data;
      try {
        data = JSON.parse(event.data || "{}");
      } catch {
        return;
      }
      handlers[kind](data || {});
    });
  }
  return source;
}

let lastBadge = null;

/** Put the unread count in the page title and the favicon. */
export function showUnread(unread, subject) {
  const count = Number(unread) || 0;
  const name = document.body.dataset.title || "mailsink";
  const title = subject ? `${subject} · ${name}` : name;
  document.title = count ? `(${count.toLocaleString()}) ${title}` : title;
  const badge = count > 99 ? "99+" : count ? String(count) : "";
  if (badge === lastBadge) return;
  lastBadge = badge;
  $("#favicon").href = drawFavicon(badge);
}

function drawFavicon(badge) {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 64;
  const ctx = canvas.getContext("2d");
  if (!ctx) return at("/ui/static/favicon.svg");
  ctx.fillStyle = "#2f6fde";
  ctx.beginPath();
  ctx.roundRect(4, 12, 56, 40, 6);
  ctx.fill();
  ctx.strokeStyle = "#fff";
  ctx.lineWidth = 5;
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(8, 18);
  ctx.lineTo(32, 36);
  ctx.lineTo(56, 18);
  ctx.stroke();
  if (badge) {
    ctx.font = `bold ${badge.length > 2 ? 22 : 28}px sans-serif`;
    const width = Math.max(30, ctx.measureText(badge).width + 12);
    ctx.fillStyle = "#d93025";
    ctx.beginPath();
    ctx.roundRect(64 - width, 0, width, 32, 16);
    ctx.fill();
    ctx.fillStyle = "#fff";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(badge, 64 - width / 2, 17);
  }
  return canvas.toDataURL("image/png");
}
