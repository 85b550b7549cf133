// Release a message to a real inbox through the configured relay, and show what was relayed.

import { api } from "./api.js";
import { $, h, replace } from "./dom.js";
import { formatFullTime } from "./format.js";

let relay = null; // the MessageRelay part of /api/v1/webui, when relay is configured
let messageId = null;

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
  try {
    const answer = await api.release(messageId, to);
    result.textContent = answer === "ok" ? "Released." : String(answer);
  } catch (error) {
    result.className = "error";
    result.textContent = error.message;
  }
  renderRelayed(await api.peek(messageId));
}

/** Show the Release button when a relay is configured, and wire its dialog. */
export async function wireRelease(config) {
  relay = config.MessageRelay && config.MessageRelay.Enabled ? config.MessageRelay : null;
  $("#release").hidden = !relay;
  if (!relay) return;
  const allowed = relay.AllowedRecipients ? `; allowed: ${relay.AllowedRecipients}` : "";
  $("#release-via").textContent = `Through ${relay.SMTPServer}${allowed}.`;
  $("#release").addEventListener("click", () => {
    $("#release-result").textContent = "";
    $("#release-dialog").showModal();
    $("#release-to").focus();
  });
  $("#release-send").addEventListener("click", (event) => {
    if ($("#release-to").reportValidity()) release(event);
    else event.preventDefault();
  });
}
