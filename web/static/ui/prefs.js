// Keep the reader's choices (theme, density, notifications) in the mailsink-prefs cookie.
//
// A cookie rather than localStorage because the server reads it: web/ui.py writes theme and
// density onto <html data-theme data-density> so the very first paint has them (the CSP allows
// no inline script that could apply them before the stylesheet).

import { $, $$, base } from "./dom.js";

const COOKIE = "mailsink-prefs";
const CHOICES = { theme: ["auto", "light", "dark"], density: ["comfortable", "compact"], notify: ["0", "1"] };
const YEAR = 365 * 24 * 3600;

function readCookie() {
  const found = document.cookie.split("; ").find((part) => part.startsWith(`${COOKIE}=`));
  const params = new URLSearchParams(found ? found.slice(COOKIE.length + 1) : "");
  const prefs = {};
  for (const [name, values] of Object.entries(CHOICES)) {
    const value = params.get(name);
    prefs[name] = values.includes(value) ? value : values[0];
  }
  return prefs;
}

const prefs = readCookie();
const listeners = [];

/** Return the value of one preference. */
export const pref = (name) => prefs[name];

/** Call fn(name, value) whenever a preference changes. */
export const onPrefChange = (fn) => listeners.push(fn);

/** Change a preference: remember it for a year, show it, and tell the listeners. */
export function setPref(name, value) {
  if (!CHOICES[name] || !CHOICES[name].includes(value)) return;
  prefs[name] = value;
  const text = new URLSearchParams(prefs).toString();
  document.cookie = `${COOKIE}=${text}; Max-Age=${YEAR}; Path=${base || "/"}; SameSite=Strict`;
  apply();
  for (const fn of listeners) fn(name, value);
}

function apply() {
  const root = document.documentElement;
  root.dataset.theme = prefs.theme;
  root.dataset.density = prefs.density;
  for (const button of $$("[data-pref]")) {
    button.setAttribute("aria-pressed", String(prefs[button.dataset.pref] === button.dataset.value));
  }
}

function toggleMenu(open) {
  const menu = $("#prefs-menu");
  menu.hidden = !open;
  $("#prefs-button").setAttribute("aria-expanded", String(open));
}

/** Wire the settings menu: its theme and density buttons, closing on Esc or a click outside. */
export function wirePrefs() {
  apply();
  $("#prefs-button").addEventListener("click", () => toggleMenu($("#prefs-menu").hidden));
  for (const button of $$("[data-pref]")) {
    button.addEventListener("click", () => setPref(button.dataset.pref, button.dataset.value));
  }
  document.addEventListener("click", (event) => {
    if (!$("#prefs-menu").hidden && !event.target.closest("#prefs-menu, #prefs-button")) toggleMenu(false);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("#prefs-menu").hidden) {
      toggleMenu(false);
      $("#prefs-button").focus();
      event.preventDefault();
    }
  });
}
