// Keyboard shortcuts: j/k or arrows to move, Enter to open, / to search, Del to delete, ? for help.

const TYPING = "input:not([type=checkbox]):not([type=radio]), textarea, select, [contenteditable]";

/** Call actions[name]() for the shortcut keys, unless the user is typing. */
export function wireKeys(actions) {
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (document.querySelector("dialog[open]")) return; // a dialog handles its own keys
    const target = event.target instanceof Element ? event.target : null;
    if (target && target.closest(TYPING)) {
      if (event.key === "Escape" || (event.key === "ArrowDown" && target.type === "search")) {
        target.blur();
        if (event.key === "ArrowDown") actions.next();
        event.preventDefault();
      }
      return;
    }
    const onControl = target && target.closest("button, a, summary, iframe");
    const name = {
      j: "next",
      ArrowDown: "next",
      k: "previous",
      ArrowUp: "previous",
      Enter: onControl ? null : "open",
      o: "open",
      Escape: "close",
      "/": "search",
      Delete: "delete",
      "#": "delete",
      u: "toggleRead",
      x: "pick",
      ArrowLeft: "newer",
      ArrowRight: "older",
      "?": "help",
    }[event.key];
    if (!name || !actions[name]) return;
    event.preventDefault();
    actions[name]();
  });
}
