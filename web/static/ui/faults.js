// The chaos settings: Mailpit's random triggers and the fault rules in force (--enable-chaos).

import { api } from "./api.js";
import { $, h, replace } from "./dom.js";

const TRIGGERS = ["Sender", "Recipient", "Authentication"];

function number(name, field, value, min, max) {
  return h("input", { type: "number", name: `${name}.${field}`, value, min, max, required: true, "aria-label": `${name} ${field}` });
}

async function load() {
  const triggers = await api.chaos();
  replace(
    $("#chaos-triggers"),
    TRIGGERS.map((name) =>
      h("label", {}, `${name}: code `, number(name, "ErrorCode", triggers[name].ErrorCode, 400, 599), " chance % ",
        number(name, "Probability", triggers[name].Probability, 0, 100)),
    ),
  );
  const rules = (await api.faults()).Rules;
  replace(
    $("#fault-rules"),
    rules.length
      ? rules.map((rule) =>
          h("li", {}, `${rule.Kind} at ${rule.Stage}`, rule.Address || rule.Regex ? ` (${rule.Address || rule.Regex})` : "",
            rule.Scope ? ` for +${rule.Scope}` : "", rule.Reply ? `: ${rule.Reply}` : "", " ",
            h("button", { type: "button", onclick: async () => { await api.removeFault(rule.ID); load(); } }, "Remove")),
        )
      : h("li", {}, "none"),
  );
}

async function save(event) {
  event.preventDefault();
  const form = new FormData($("#chaos-form"));
  const body = Object.fromEntries(
    TRIGGERS.map((name) => [name, { ErrorCode: Number(form.get(`${name}.ErrorCode`)), Probability: Number(form.get(`${name}.Probability`)) }]),
  );
  try {
    await api.setChaos(body);
    $("#chaos-result").textContent = "Saved.";
  } catch (error) {
    $("#chaos-result").textContent = error.message;
  }
}

/** Show the Chaos button when the sink runs with --enable-chaos, and wire its dialog. */
export function wireFaults(config) {
  $("#faults-button").hidden = !config.ChaosEnabled;
  if (!config.ChaosEnabled) return;
  $("#faults-button").addEventListener("click", async () => {
    $("#chaos-result").textContent = "";
    await load();
    $("#faults-dialog").showModal();
  });
  $("#chaos-form").addEventListener("submit", save);
}
