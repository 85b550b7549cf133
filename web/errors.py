"""Errors as JSON: the one shape every failed request gets, ``{"Error": message}``.

Any view raises :class:`ApiError` with a status and a message a person can
act on; ``create_app`` registers the handler that turns it into a response,
so no module needs the app to report an error.
"""

from __future__ import annotations

from flask import Response, jsonify


class ApiError(Exception):
    """Report a request that is refused, with its HTTP status and message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def json_error(status: int, message: str) -> Response:
    """Return a JSON error response: ``{"Error": message}`` (Mailpit's shape)."""
    response = jsonify({"Error": message})
    response.status_code = status
    return response
