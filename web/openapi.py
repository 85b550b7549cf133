"""The OpenAPI 3.1 document of everything the API serves, at ``/api/v1/openapi.json``.

It is built here from small helpers rather than kept as a file so that it
stays next to the code; a test checks that every API route is in it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from mailsink import __version__

bp = Blueprint("api_openapi", __name__)

OPENAPI_PATH = "/api/v1/openapi.json"

JSON = "application/json"
_STR: dict[str, Any] = {"type": "string"}
_INT: dict[str, Any] = {"type": "integer"}
_BOOL: dict[str, Any] = {"type": "boolean"}
_STRS: dict[str, Any] = {"type": "array", "items": _STR}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


def _arr(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _body(content_type: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {content_type: {"schema": _STR}}}


_ERR = _json("Error: bad input (400), unknown ID (404), ...", _ref("Error"))
_OK = _body("text/plain", "Plain text `ok`")


def _q(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema or _STR}


def _p(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": _STR,
    }


_ID = _p("ID", "Message ID, or `latest` (the newest message; with `?query=` the newest matching)")
_LATEST_QUERY = _q("query", "With ID `latest`: the newest message matching this search")
_PAGE = [
    _q("start", "Pagination offset", {"type": "integer", "default": 0}),
    _q(
        "limit",
        "Page size (more than 10000 is served as 10000; junk is 50, as in Mailpit)",
        {"type": "integer", "default": 50},
    ),
]
_SEARCH = _q("query", "A search (Mailpit's language plus `header:` and `to:=exact`)")
_TZ = _q("tz", "IANA time zone for `before:` and `after:` (e.g. Europe/Berlin); unknown: UTC")


def _op(
    summary: str,
    responses: dict[str, Any],
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    tag: str = "messages",
) -> dict[str, Any]:
    op: dict[str, Any] = {"tags": [tag], "summary": summary, "responses": responses}
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = {"content": {JSON: {"schema": body}}}
    return op


_ADDRESS = _obj(Name=_STR, Address=_STR)
_ENVELOPE = _obj(
    MailFrom=_STR,
    RcptTo=_STRS,
    Helo=_STR,
    Peer=_STR,
    TLS=_BOOL,
    AuthUser={"type": ["string", "null"]},
)
_SUMMARY = _obj(
    ID=_STR, MessageID=_STR, Read=_BOOL, From={"oneOf": [_ref("Address"), {"type": "null"}]},
    To=_arr(_ref("Address")), Cc=_arr(_ref("Address")), Bcc=_arr(_ref("Address")),
    ReplyTo=_arr(_ref("Address")), Subject=_STR, Created={"type": "string", "format": "date-time"},
    Username=_STR, Tags=_STRS, Size=_INT, Attachments=_INT, Inline=_INT, Snippet=_STR,
    Envelope=_ref("Envelope"),
)  # fmt: skip
_ATTACHMENT = _obj(
    PartID=_STR, FileName=_STR, ContentType=_STR, ContentID=_STR, Size=_INT,
    Checksums=_obj(MD5=_STR, SHA1=_STR, SHA256=_STR),
)  # fmt: skip
_MESSAGE = _obj(
    ID=_STR, MessageID=_STR, From={"oneOf": [_ref("Address"), {"type": "null"}]},
    To=_arr(_ref("Address")), Cc=_arr(_ref("Address")), Bcc=_arr(_ref("Address")),
    ReplyTo=_arr(_ref("Address")), ReturnPath=_STR, Subject=_STR,
    ListUnsubscribe=_obj(Header=_STR, Links=_STRS, Errors=_STR, HeaderPost=_STR),
    Date={"type": "string", "format": "date-time"},
    Created={"type": "string", "format": "date-time"},
    Tags=_STRS, Username=_STR, Text=_STR, HTML=_STR, Size=_INT,
    Inline=_arr(_ref("Attachment")), Attachments=_arr(_ref("Attachment")), Read=_BOOL,
    Envelope=_ref("Envelope"), Relayed=_arr(_ref("RelayAttempt")),
)  # fmt: skip
_RELAY_ATTEMPT = _obj(
    At={"type": "string", "format": "date-time"}, To=_STRS,
    Result={"type": "string", "enum": ["sent", "deferred", "failed"]}, Reply=_STR,
)  # fmt: skip
_NULL_STR = {"type": ["string", "null"]}
_FAULT_RULE = _obj(
    ID=_STR, Kind=_STR, Stage=_STR, Address=_NULL_STR, Regex=_NULL_STR, Predicate=_BOOL,
    Reply=_NULL_STR, Remaining={"type": ["integer", "null"]}, Seconds={"type": "number"},
    Scope=_NULL_STR, Created={"type": "string", "format": "date-time"},
    Expires={"type": ["string", "null"], "format": "date-time"},
)  # fmt: skip
_FAULT_REQUEST = _obj(
    Kind={"type": "string", "enum": ["reject_sender", "reject_recipient", "fail_next", "delay",
                                     "drop_connection", "refuse"]},
    Stage={"type": "string", "enum": ["connect", "mail", "rcpt", "data"]},
    Address=_STR, Regex=_STR, Code=_INT, Message=_STR, Count=_INT, Seconds={"type": "number"},
    Scope=_STR, Lifetime={"type": "number"},
)  # fmt: skip
_TRIGGER = _obj(ErrorCode=_INT, Probability=_INT)
_CHAOS = _obj(Sender=_TRIGGER, Recipient=_TRIGGER, Authentication=_TRIGGER)
_LIST = _obj(
    total=_INT, unread=_INT, count=_INT, messages_count=_INT, messages_unread=_INT, start=_INT,
    tags=_STRS, messages=_arr(_ref("MessageSummary")),
)  # fmt: skip
_PERSON = _obj(Email=_STR, Name=_STR)
_SEND = _obj(
    From=_PERSON, To=_arr(_PERSON), Cc=_arr(_PERSON), Bcc=_STRS, ReplyTo=_arr(_PERSON),
    Subject=_STR, Text=_STR, HTML=_STR, Headers={"type": "object", "additionalProperties": _STR},
    Tags=_STRS,
    Attachments=_arr(_obj(Content=_STR, Filename=_STR, ContentType=_STR, ContentID=_STR)),
)  # fmt: skip
_NUM: dict[str, Any] = {"type": "number"}
_HTML_CHECK = _obj(
    Warnings=_arr(_obj(
        Slug=_STR, Title=_STR, Description=_STR, URL=_STR, Category=_STR, Tags=_STRS,
        Keywords=_STR, NotesByNumber={"type": "object", "additionalProperties": _STR},
        Results=_arr(_obj(Name=_STR, Platform=_STR, Family=_STR, Version=_STR, Support=_STR,
                          NoteNumber=_STR)),
        Score=_obj(Found=_INT, Supported=_NUM, Partial=_NUM, Unsupported=_NUM),
    )),
    Platforms={"type": "object", "additionalProperties": _STRS},
    Total=_obj(Nodes=_INT, Tests=_INT, Supported=_NUM, Partial=_NUM, Unsupported=_NUM),
)  # fmt: skip
_LINK_CHECK = _obj(Errors=_INT, Links=_arr(_obj(URL=_STR, StatusCode=_INT, Status=_STR)))
_SA_CHECK = _obj(
    IsSpam=_BOOL, Error=_STR, Score=_NUM, Rules=_arr(_obj(Score=_NUM, Name=_STR, Description=_STR))
)
_AUTH_CHECK = _obj(
    DKIM=_obj(Result=_STR, Signatures=_arr(_obj(
        Domain=_STR, Selector=_STR, Algorithm=_STR, BodyHash=_STR, Result=_STR, Reason=_STR))),
    ARC=_obj(Result=_STR, Reason=_STR),
    SPF=_obj(Result=_STR, Reason=_STR, Domain=_STR, IP=_STR, Helo=_STR, MailFrom=_STR),
    DMARC=_obj(Result=_STR, Reason=_STR, Domain=_STR, Record=_STR, Policy=_STR,
               SubdomainPolicy=_STR, Alignment=_obj(DKIM=_BOOL, SPF=_BOOL)),
    AuthenticationResults=_STR,
)  # fmt: skip
_MAILHOG_LIST = _obj(total=_INT, count=_INT, start=_INT, items=_arr({"type": "object"}))
_LIST_OK = {"200": _json("Messages, newest first", _ref("MessagesSummary")), "400": _ERR}
_MSG_OK = {"200": _json("The message", _ref("Message")), "400": _ERR, "404": _ERR}

_PATHS: dict[str, Any] = {
    "/api/v1/messages": {
        "get": _op("List messages", _LIST_OK, _PAGE),
        "put": _op("Mark messages read/unread: by IDs, by Search (or ?search=), else all",
                   {"200": _OK, "400": _ERR}, [_q("search", "Search"), _TZ],
                   _obj(IDs=_STRS, Read=_BOOL, Search=_STR)),
        "delete": _op("Delete messages by IDs; without IDs (or a body that is not JSON) "
                      "delete all, as in Mailpit",
                      {"200": _OK, "400": _ERR}, body=_obj(IDs=_STRS)),
    },
    "/api/v1/search": {
        "get": _op("Search messages", _LIST_OK, [_SEARCH, *_PAGE, _TZ]),
        "delete": _op("Delete the messages matching a search", {"200": _OK, "400": _ERR},
                      [_SEARCH, _TZ]),
    },
    "/api/v1/message/{ID}": {
        "get": _op("Get a message; marks it read unless ?peek=1 (mailsink)", _MSG_OK,
                   [_ID, _LATEST_QUERY, _q("peek", "1: do not mark the message read")],
                   tag="message"),
    },
    "/api/v1/message/{ID}/headers": {
        "get": _op("Get the headers, {Name: [values]}", {
            "200": _json("Headers", {"type": "object", "additionalProperties": _STRS}),
            "404": _ERR}, [_ID, _LATEST_QUERY], tag="message"),
    },
    "/api/v1/message/{ID}/raw": {
        "get": _op("Get the exact bytes received", {
            "200": _body("text/plain", "Message source"), "404": _ERR},
            [_ID, _LATEST_QUERY, _q("dl", "1: download as ID.eml")], tag="message"),
    },
    "/api/v1/message/{ID}/part/{PartID}": {
        "get": _op("Get an attachment or inline part", {
            "200": _body("application/octet-stream", "The part, with its own Content-Type"),
            "404": _ERR}, [_ID, _p("PartID", "Part ID"), _q("dl", "1: download")],
            tag="message"),
    },
    "/api/v1/message/{ID}/part/{PartID}/thumb": {
        "get": _op("A 180x120 JPEG thumbnail of an image part (over 20 megapixels: 400)", {
            "200": _body("image/jpeg", "The thumbnail"), "400": _ERR, "404": _ERR},
            [_ID, _p("PartID", "Part ID")], tag="message"),
    },
    "/api/v1/message/{ID}/html-check": {
        "get": _op("HTML check: HTML/CSS features vs caniemail.com (422: too large to check)",
                   {"200": _json("HTMLCheckResponse", _ref("HTMLCheckResponse")),
                    "400": _ERR, "404": _ERR, "422": _ERR}, [_ID, _LATEST_QUERY], tag="other"),
    },
    "/api/v1/message/{ID}/link-check": {
        "get": _op("Link check: status of every link (only with --link-check, else 403)",
                   {"200": _json("LinkCheckResponse", _ref("LinkCheckResponse")),
                    "403": _ERR, "404": _ERR},
                   [_ID, _LATEST_QUERY, _q("follow", "1/true: follow redirects")], tag="other"),
    },
    "/api/v1/message/{ID}/sa-check": {
        "get": _op("SpamAssassin check via spamd (only with --spamassassin, else 403)",
                   {"200": _json("SpamAssassinResponse", _ref("SpamAssassinResponse")),
                    "403": _ERR, "404": _ERR}, [_ID, _LATEST_QUERY], tag="other"),
    },
    "/api/v1/message/{ID}/auth-check": {
        "get": _op("DKIM, ARC, SPF and DMARC verdicts (mailsink), RFC 8601 result names",
                   {"200": _json("AuthCheckResponse", _ref("AuthCheckResponse")),
                    "404": _ERR, "503": _ERR}, [_ID, _LATEST_QUERY], tag="mailsink"),
    },
    "/view/{ID}": {
        "get": _op("Mailpit's UI link: redirects to the message page (`latest`: the newest)",
                   {"302": {"description": "To /message/{ID}"}, "404": _ERR}, [_ID], tag="view"),
    },
    "/view/{ID}.html": {
        "get": _op("The HTML body, sandboxed by CSP; cid: images rewritten", {
            "200": _body("text/html", "HTML body"), "404": _ERR},
            [_ID, _q("remote", "1: allow remote images, styles, fonts"),
             _q("embed", "1: open links in a new tab"),
             _q("dl", "1: download the HTML body as the API's HTML field has it")], tag="view"),
    },
    "/view/{ID}.txt": {
        "get": _op("The text body", {"200": _body("text/plain", "Text body"), "404": _ERR},
                   [_ID, _q("dl", "1: download it as a file")], tag="view"),
    },
    "/view/{ID}.eml": {
        "get": _op("Download the message as received (mailsink)",
                   {"200": _body("message/rfc822", "The raw message"), "404": _ERR},
                   [_ID], tag="view"),
    },
    "/api/v1/send": {
        "post": _op("Build a message and store it as if received",
                    {"200": _json("Stored", _obj(ID=_STR)), "400": _ERR, "413": _ERR},
                    body=_ref("SendRequest"), tag="message"),
    },
    "/api/v1/message/{ID}/release": {
        "post": _op("Release to the configured relay (Mailpit); 202: deferred, retried",
                    {"200": _body("text/plain", "ok"), "202": _body("text/plain", "Deferred"),
                     "400": _ERR, "404": _ERR, "415": _ERR},
                    [_ID], _obj(To=_STRS), tag="relay"),
    },
    "/api/v1/messages/{ID}/release": {
        "post": _op("MailHog: release to one address via the configured relay only",
                    {"200": _body("text/plain", "ok"), "202": _body("text/plain", "Deferred"),
                     "400": _ERR, "404": _ERR, "415": _ERR}, [_p("ID", "Message ID")],
                    _obj(Email=_STR, Host=_STR, Port=_STR), tag="mailhog"),
    },
    "/api/v1/chaos": {
        "get": _op("Mailpit chaos triggers (needs --enable-chaos)",
                   {"200": _json("Triggers", _ref("ChaosTriggers")), "400": _ERR}, tag="testing"),
        "put": _op("Set the chaos triggers; omitted ones reset",
                   {"200": _json("Triggers", _ref("ChaosTriggers")), "400": _ERR},
                   body=_ref("ChaosTriggers"), tag="testing"),
    },
    "/api/v1/faults": {
        "get": _op("Deterministic fault rules in force (mailsink; needs --enable-chaos)",
                   {"200": _json("Rules", _obj(Rules=_arr(_ref("FaultRule")))), "400": _ERR},
                   [_q("scope", "Only the rules of this scope")], tag="testing"),
        "post": _op("Add a fault rule", {"201": _json("The rule", _ref("FaultRule")),
                    "400": _ERR, "415": _ERR}, body=_ref("FaultRequest"), tag="testing"),
        "delete": _op("Remove every rule of ?scope=, or every rule",
                      {"200": _json("Removed", _obj(Removed=_INT)), "400": _ERR},
                      [_q("scope", "Scope")], tag="testing"),
    },
    "/api/v1/faults/{RuleID}": {
        "delete": _op("Remove one fault rule", {"200": _json("Removed", _obj(Removed=_INT)),
                      "400": _ERR, "404": _ERR}, [_p("RuleID", "Rule ID")], tag="testing"),
    },
    "/api/v1/tags": {
        "get": _op("All tags in use; with `?counts=1` (mailsink) an object of tag → messages",
                   {"200": _json("Tags", {"oneOf": [_STRS, {"type": "object",
                                                             "additionalProperties": _INT}]}),
                    "400": _ERR},
                   [_q("counts", "1: answer each tag's number of messages (mailsink)",
                       {"type": "integer", "enum": [0, 1], "default": 0})], tag="tags"),
        "put": _op("Replace the tags of messages", {"200": _OK, "400": _ERR},
                   body=_obj(IDs=_STRS, Tags=_STRS), tag="tags"),
    },
    "/api/v1/tags/{Tag}": {
        "put": _op("Rename a tag", {"200": _OK, "400": _ERR, "404": _ERR},
                   [_p("Tag", "URL-encoded tag")], _obj(Name=_STR), tag="tags"),
        "delete": _op("Remove a tag from every message", {"200": _OK, "404": _ERR},
                      [_p("Tag", "URL-encoded tag")], tag="tags"),
    },
    "/api/v1/info": {
        "get": _op("Version, counts, tags, runtime stats",
                   {"200": _json("Info", {"type": "object"})}, tag="application"),
    },
    "/api/v1/webui": {
        "get": _op("Web UI configuration", {"200": _json("Config", {"type": "object"})},
                   tag="application"),
    },
    "/api/v1/events": {
        "get": _op("Server-Sent Events (mailsink): new, update, delete, truncate, resync; "
                   "data objects carry Total and Unread; `: keepalive` every 15 s",
                   {"200": _body("text/event-stream", "Event stream"), "503": _ERR},
                   tag="mailsink"),
    },
    "/api/events": {
        "get": _op("Mailpit's WebSocket feed: {Type, Data} frames (new, update, delete, "
                   "truncate, prune, stats); a browser Origin must be this server or "
                   "--cors-origin (403); without an upgrade: 400",
                   {"101": {"description": "Switching to the WebSocket protocol"},
                    "400": _ERR, "403": _ERR}, tag="application"),
    },
    "/metrics": {
        "get": _op("Prometheus metrics (text format); 404 with --metrics off",
                   {"200": _body("text/plain", "Prometheus text exposition format"),
                    "404": _ERR}, tag="application"),
    },
    "/api/v1/wait": {
        "get": _op("Wait until `count` messages match (mailsink); 408 after `timeout`", {
            "200": _json("Matching messages, oldest first",
                         _obj(messages_count=_INT, messages=_arr(_ref("MessageSummary")))),
            "400": _ERR, "408": _ERR, "503": _ERR},
            [_SEARCH, _q("count", "How many (default 1)", _INT),
             _q("timeout", "Seconds (default 10, at most 300)", {"type": "number"}),
             _q("since", "Only messages after this message ID, unix time or RFC 3339 time"),
             _TZ], tag="mailsink"),
    },
    OPENAPI_PATH: {
        "get": _op("This document", {"200": _json("OpenAPI 3.1", {"type": "object"})},
                   tag="application"),
    },
    "/api/v1/swagger.json": {
        "get": _op("This document again, at Mailpit's path for its own",
                   {"200": _json("OpenAPI 3.1", {"type": "object"})}, tag="application"),
    },
    "/api/v2/messages": {
        "get": _op("MailHog: list messages", {"200": _json("Messages", _MAILHOG_LIST)},
                   _PAGE, tag="mailhog"),
    },
    "/api/v2/search": {
        "get": _op("MailHog: search", {"200": _json("Messages", _MAILHOG_LIST), "400": _ERR},
                   [_q("kind", "from, to or containing"), _q("query", "Text"), *_PAGE],
                   tag="mailhog"),
    },
    "/api/v1/messages/{ID}": {
        "delete": _op("MailHog: delete one message", {"200": _body("text/plain", "Empty"),
                      "404": _ERR}, [_p("ID", "Message ID")], tag="mailhog"),
    },
    "/livez": {"get": _op("Liveness", {"200": _json("ok", {"type": "object"})}, tag="health")},
    "/readyz": {"get": _op("Readiness (store answers)",
                           {"200": _json("ok", {"type": "object"}), "503": _ERR}, tag="health")},
}  # fmt: skip


def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of the API."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mailsink API",
            "version": __version__,
            "description": "Mailpit REST API v1 compatible, plus server-side waits, "
            "Server-Sent Events, envelopes, peek and MailHog v2 compatibility.",
        },
        "paths": _PATHS,
        "components": {
            "schemas": {
                "Error": _obj(Error=_STR),
                "Address": _ADDRESS,
                "Envelope": _ENVELOPE,
                "MessageSummary": _SUMMARY,
                "MessagesSummary": _LIST,
                "Attachment": _ATTACHMENT,
                "Message": _MESSAGE,
                "SendRequest": _SEND,
                "HTMLCheckResponse": _HTML_CHECK,
                "LinkCheckResponse": _LINK_CHECK,
                "SpamAssassinResponse": _SA_CHECK,
                "AuthCheckResponse": _AUTH_CHECK,
                "RelayAttempt": _RELAY_ATTEMPT,
                "FaultRule": _FAULT_RULE,
                "FaultRequest": _FAULT_REQUEST,
                "ChaosTriggers": _CHAOS,
            }
        },
    }


@bp.get(OPENAPI_PATH)
def openapi() -> Any:
    """Serve the OpenAPI document."""
    return openapi_document()
