// The "HTML source" tab: mail HTML highlighted by a small tokenizer into text nodes and spans.
// The source is hostile, so it never goes through an HTML parser that could run it:
// each token becomes a text node, wrapped in a <span class> when it has a kind.

const HIGHLIGHT_LIMIT = 300_000; // characters tokenized; the rest is shown as plain text

const NAME = /[^\s"'>\/=]+/y;
const SPACE = /\s+/y;
const VALUE = /"[^"]*"?|'[^']*'?|[^\s>]+/y;

function matchAt(pattern, text, index) {
  pattern.lastIndex = index;
  const found = pattern.exec(text);
  return found ? found[0] : "";
}

/** Split HTML into [kind, text] tokens (kind "" for plain text); their texts join to the input. */
export function tokenize(source) {
  const tokens = [];
  const push = (kind, text) => {
    if (text) tokens.push([kind, text]);
  };
  let i = 0;
  const n = source.length;
  while (i < n) {
    const lt = source.indexOf("<", i);
    if (lt < 0) {
      push("", source.slice(i));
      break;
    }
    push("", source.slice(i, lt));
    i = lt;
    if (source.startsWith("<!--", i)) {
      const end = source.indexOf("-->", i + 4);
      const stop = end < 0 ? n : end + 3;
      push("comment", source.slice(i, stop));
      i = stop;
      continue;
    }
    if (source.startsWith("<!", i) || source.startsWith("<?", i)) {
      const end = source.indexOf(">", i);
      const stop = end < 0 ? n : end + 1;
      push("doctype", source.slice(i, stop));
      i = stop;
      continue;
    }
    const closing = source[i + 1] === "/";
    const name = matchAt(NAME, source, i + (closing ? 2 : 1));
    if (!name || !/^[A-Za-z]/.test(name)) {
      push("", "<"); // a lone "<" in text
      i += 1;
      continue;
    }
    push("punct", closing ? "</" : "<");
    push("tag", name);
    i += (closing ? 2 : 1) + name.length;
    // Attributes up to the closing ">" (or the end of the source).
    while (i < n && source[i] !== ">") {
      const space = matchAt(SPACE, source, i);
      if (space) {
        push("", space);
        i += space.length;
        continue;
      }
      if (source[i] === "/") {
        push("punct", "/");
        i += 1;
        continue;
      }
      if (source[i] === "=") {
        push("punct", "=");
        i += 1;
        const value = matchAt(VALUE, source, i);
        push("value", value);
        i += value.length;
        continue;
      }
      const attr = matchAt(NAME, source, i) || source[i];
      push("attr", attr);
      i += attr.length;
    }
    if (i < n) {
      push("punct", ">");
      i += 1;
    }
  }
  return tokens;
}

/** Return a fragment showing HTML source with its tags, attributes, values and comments marked. */
export function highlightHtml(source) {
  const fragment = document.createDocumentFragment();
  const head = source.length > HIGHLIGHT_LIMIT ? source.slice(0, HIGHLIGHT_LIMIT) : source;
  for (const [kind, text] of tokenize(head)) {
    if (!kind) {
      fragment.append(text);
      continue;
    }
    const span = document.createElement("span");
    span.className = `hl-${kind}`;
    span.textContent = text;
    fragment.append(span);
  }
  if (head.length < source.length) fragment.append(source.slice(head.length));
  return fragment;
}
