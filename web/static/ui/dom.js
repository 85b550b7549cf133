// Build DOM nodes safely: text always goes in as text nodes, never as markup.

/** Create an element with attributes and children (strings become text nodes). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** Append children, flattening arrays and skipping empty values. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replace every child of an element. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Return the first element matching a selector. */
/** The path prefix the app is served under (--webroot): "" or "/mail". */
export const base = document.body.dataset.base || "";

/** Return a path of this app (API, events, page) with the webroot before it. */
export const at = (path) => base + path;

export const $ = (selector, root = document) => root.querySelector(selector);

/** Return every element matching a selector, as an array. */
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

const SVG = "http://www.w3.org/2000/svg";

/** Return a small paperclip icon marking a message with attachments. */
export function clipIcon() {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "icon clip");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute(
    "d",
    "M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5",
  );
  svg.append(path);
  return svg;
}
