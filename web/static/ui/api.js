// Talk to the JSON API (Mailpit v1 paths); every call returns parsed JSON or throws ApiError.

import { at } from "./dom.js";

/** An error the API answered with: its HTTP status and message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const enc = encodeURIComponent;
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

async function request(method, url, body, signal) {
  const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin", signal };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(at(url), options);
  } catch (error) {
    if (error.name === "AbortError") throw error; // superseded: the caller ignores it
    throw new ApiError(0, "The server cannot be reached.");
  }
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null) : await response.text();
  if (!response.ok) {
    const message = data && typeof data === "object" && data.Error ? data.Error : `HTTP ${response.status}`;
    throw new ApiError(response.status, message);
  }
  return data;
}

/** Return the URL of a message's part (attachment or inline). */
export const partUrl = (id, partId) => at(`/api/v1/message/${enc(id)}/part/${enc(partId)}`);

/** Return the URL of a message's sandboxed HTML view (links open in a new tab). */
export const htmlUrl = (id, remote) => at(`/view/${enc(id)}.html?embed=1${remote ? "&remote=1" : ""}`);

/** Return the URL that downloads a message as .eml (the raw message, as received). */
export const emlUrl = (id) => at(`/view/${enc(id)}.eml`);

export const api = {
  list: (start, limit, signal) => request("GET", `/api/v1/messages?start=${start}&limit=${limit}`, undefined, signal),
  search: (query, start, limit, signal) =>
    request("GET", `/api/v1/search?query=${enc(query)}&start=${start}&limit=${limit}&tz=${enc(zone)}`, undefined, signal),
  message: (id) => request("GET", `/api/v1/message/${enc(id)}`),
  peek: (id) => request("GET", `/api/v1/message/${enc(id)}?peek=1`),
  webui: () => request("GET", "/api/v1/webui"),
  release: (id, to) => request("POST", `/api/v1/message/${enc(id)}/release`, { To: to }),
  chaos: () => request("GET", "/api/v1/chaos"),
  setChaos: (triggers) => request("PUT", "/api/v1/chaos", triggers),
  faults: () => request("GET", "/api/v1/faults"),
  removeFault: (id) => request("DELETE", `/api/v1/faults/${enc(id)}`),
  headers: (id) => request("GET", `/api/v1/message/${enc(id)}/headers`),
  raw: (id) => request("GET", `/api/v1/message/${enc(id)}/raw`),
  tree: (id) => request("GET", `/ui/message/${enc(id)}/tree`),
  htmlCheck: (id) => request("GET", `/api/v1/message/${enc(id)}/html-check`),
  authCheck: (id) => request("GET", `/api/v1/message/${enc(id)}/auth-check`),
  spamCheck: (id) => request("GET", `/api/v1/message/${enc(id)}/sa-check`),
  linkCheck: (id, follow) => request("GET", `/api/v1/message/${enc(id)}/link-check?follow=${follow ? 1 : 0}`),
  tagCounts: () => request("GET", "/api/v1/tags?counts=1"),
  setTags: (ids, tags) => request("PUT", "/api/v1/tags", { IDs: ids, Tags: tags }),
  setRead: (ids, read) => request("PUT", "/api/v1/messages", { IDs: ids, Read: read }),
  setReadAll: (query, read) =>
    query
      ? request("PUT", "/api/v1/messages", { Search: query, Read: read })
      : request("PUT", "/api/v1/messages", { IDs: [], Read: read }),
  remove: (ids) => request("DELETE", "/api/v1/messages", { IDs: ids }),
  removeAll: (query) =>
    query
      ? request("DELETE", `/api/v1/search?query=${enc(query)}&tz=${enc(zone)}`)
      : request("DELETE", "/api/v1/messages"),
};
