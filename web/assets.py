"""Versioned URLs for the UI's static files, so a reload fetches and revalidates nothing.

Flask serves ``/ui/static/<file>`` with ``Cache-Control: no-cache``: every page
load asked the server again for each of its 17 modules and the stylesheet (17
``304`` answers, through the browser's six connections, before the list could
be requested).  The page shell instead links them under
``/ui/assets/<version>/<file>``, where ``version`` is a hash of the static
folder's contents.  A module's relative imports (``./api.js``) resolve under
the same versioned folder, so the whole module graph is cached as ``immutable``
for a year; a new release (or an edited file) is a new version and so a new URL.

A request for another version than the current one (a page rendered before an
upgrade) still gets the current file, but not cacheably.  ``/ui/static/`` keeps
working for links from outside the shell.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from flask import Response, send_from_directory

IMMUTABLE = "max-age=31536000, immutable"
"""Not ``public``: behind ``--ui-auth`` a shared cache should not keep even the app's code."""


@functools.cache
def asset_version(folder: str) -> str:
    """Return a short hash of every file in `folder` (names and bytes), read once per process."""
    digest = hashlib.blake2b(digest_size=6)
    root = Path(folder)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def send_asset(folder: str, version: str, filename: str) -> Response:
    """Send a static file; cache it for good when `version` is the folder's current one."""
    response = send_from_directory(folder, filename)
    if version == asset_version(folder):
        response.headers["Cache-Control"] = IMMUTABLE
    return response
