"""The ``mailsink`` command's subcommands, one module each.

``mailsink`` alone runs a sink (``mailsink.cli``); ``mailsink NAME ...`` runs
the ``main(argv, env)`` of the module named in :data:`SUBCOMMANDS`, imported
only when asked for, so the sink's start-up never pays for them:

* ``sendmail`` (``sendmail.py``): a sendmail-compatible shim that hands a
  message from stdin to a running sink over SMTP;
* ``ingest`` (``ingest_files.py``): .eml files, Maildir folders and mbox
  files into a running sink (SMTP) or a store file (through ``Ingestor``);
* ``dump`` (``dump.py``): messages out of a store file or a running sink's
  API as .eml files or one mbox file.
"""

from __future__ import annotations

SUBCOMMANDS = {
    "sendmail": "mailsink.commands.sendmail",
    "ingest": "mailsink.commands.ingest_files",
    "dump": "mailsink.commands.dump",
}
"""Subcommand name -> the module whose ``main(argv, env) -> int`` runs it."""
