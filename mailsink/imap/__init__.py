"""The IMAP4rev1 listener's protocol (RFC 3501, with IDLE from RFC 2177).

A map of the modules, in the order a command flows through them:

* ``parser.py``: a command line and its literals -> a tag, a name and typed
  arguments (atoms, strings, lists, sequence sets, fetch attributes).
* ``session.py``: one connection: states (not authenticated / authenticated /
  selected), login, folders (``folders.py``: INBOX and ``Tags/<tag>``),
  SELECT, LIST, STATUS; ``selected_commands.py``: FETCH, STORE, SEARCH,
  EXPUNGE and IDLE.
* ``mailbox_view.py``: the selected mailbox: sequence numbers <-> UIDs <->
  message IDs, flags (``\\Seen`` is the store's read flag, ``\\Flagged`` a
  tag, ``\\Deleted`` session state until EXPUNGE/CLOSE), and the updates
  (EXISTS, EXPUNGE, FETCH FLAGS) noted from the mailbox's event bus.
* ``fetch.py``: FETCH items -> response bytes (sections, partial fetch).
* ``parts.py``: a message's MIME structure as byte ranges of the raw bytes,
  so every section is served exactly as stored; ENVELOPE and BODYSTRUCTURE.
* ``search.py``: SEARCH keys -> a predicate over the selected messages.
* ``wire.py``: how strings, lists and NIL are written on the wire.

Nothing here reaches into a store: reads go through the ``MessageStore``
contract, changes through :class:`mailsink.mailbox.Mailbox`, so the web UI's
live stream sees every change an IMAP client makes.
"""
