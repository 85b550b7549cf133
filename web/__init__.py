"""The HTTP side of mailsink (installed as ``mailsink.web``): Flask app factory."""

from __future__ import annotations

from mailsink.web.app import create_app

__all__ = ["create_app"]
