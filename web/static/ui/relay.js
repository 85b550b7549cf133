// Release a message to a real inbox through the configured relay, and show what was relayed.

import { api } from "./api.js";
import { $, h, replace } from "./dom.js";
import { formatFullTime } from "./format.js";

let relay = null; // the MessageRelay part of /api/v1/webui, when relay is configured
let messageId = null; // the open message
let targets = []; // the messages the dialog releases: the open one, or those picked in the list

/** Tell whether a relay is configured (so Release buttons show). */
export const relayEnabled = () => Boolean(relay);

/** Show the relay attempts of a message (its `Relayed` field). */
export function renderRelayed(message) {
  messageId = message.ID;
  const box = $("#m-relayed");
  const attempts = message.Relayed || [];
  box.hidden = !attempts.length;
  replace(
    box,
    h("strong", {}, "Relayed"),
    h(
      "ul",
      {},
      attempts.map((a) =>
        h("li", { class: a.Result }, `${formatFullTime(a.At)} → ${a.To.join(", ")}: ${a.Result} (${a.Reply})`),
      ),
    ),
  );
}

async function release(event) {
  event.preventDefault();
  const to = $("#release-to").value.split(",").map((a) => a.trim()).filter(Boolean);
  const result = $("#release-result");
  result.className = "";
  result.textContent = "Sending…";
  const failed = [];
  let sent = 0;
  for (const id of targets) {
    try {
      const answer = await api.release(id, to);
      if (answer === "ok") sent += 1;
      else failed.push(String(answer));
    } catch (error) {
      failed.push(error.message);
    }
    if (targets.length > 1) result.textContent = `Sending… ${sent + failed.length} of ${targets.length}`;
  }
  result.className = failed.length ? "error" : "";
  const done = targets.length > 1 ? `Released ${sent} of ${targets.length}.` : sent ? "Released." : "";
  result.textContent = [done, ...new Set(failed)].filter(Boolean).join(" ");
  if (messageId && targets.includes(messageId)) renderRelayed(await api.peek(messageId));
}

/** Open the release dialog for these messages. */
export function openRelease(ids) {
  if (!relay || !ids.length) return;
  targets = [...ids];
  $("#release-title").textContent = ids.length > 1 ? `Release ${ids.length} messages` : "Release message";
  $("#release-result").className = "";
  $("#release-result").textContent = "";
  $("#release-dialog").showModal();
  $("#release-to").focus();
}

/** Show the Release button when a relay is configured, and wire its dialog. */
export async function wireRelease(config) {
  relay = config.MessageRelay && config.MessageRelay.Enabled ? config.MessageRelay : null;
  $("#release").hidden = !relay;
  if (!relay) return;
  const allowed = relay.AllowedRecipients ? `; allowed: ${relay.AllowedRecipients}` : "";
  $("#release-via").textContent = `Through ${relay.SMTPServer}${allowed}.`;
  $("#release").addEventListener("click", () => openRelease([messageId]));
  $("#release-send").addEventListener("click", (event) => {
    if ($("#release-to").reportValidity()) release(event);
    else event.preventDefault();
  });
}
