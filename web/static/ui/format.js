// Format sizes, times and addresses for display.

const UNITS = ["B", "KB", "MB", "GB"];

/** Return a byte count as "12 KB". */
export function formatSize(bytes) {
  let value = Number(bytes) || 0;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 10 ? 0 : 1;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const yearFormat = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** Return a short time for a list row: the time today, else the date. */
export function formatShortTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const now = new Date();
  if (date.toDateString() === now.toDateString()) return timeFormat.format(date);
  if (date.getFullYear() === now.getFullYear()) return dayFormat.format(date);
  return yearFormat.format(date);
}

/** Return a full local date and time. */
export function formatFullTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso || "") : fullFormat.format(date);
}

/** Return "Name <address>" or the bare address. */
export function formatAddress(addr) {
  if (!addr) return "";
  const name = (addr.Name || "").trim();
  const address = (addr.Address || "").trim();
  if (name && address) return `${name} <${address}>`;
  return name || address;
}

/** Return a short label for an address: the name if any, else the address. */
export function shortAddress(addr) {
  if (!addr) return "";
  return (addr.Name || "").trim() || (addr.Address || "").trim();
}

/** Return a comma-separated list of addresses. */
export function formatAddresses(list, short = false) {
  return (list || []).map(short ? shortAddress : formatAddress).filter(Boolean).join(", ");
}

/** Return a number with thousands separators. */
export function formatCount(n) {
  return (Number(n) || 0).toLocaleString();
}
