"""A tiny Flask app that sends a password-reset mail with Flask-Mail."""

from flask import Flask, request
from flask_mail import Mail, Message


def create_app(config: dict[str, object]) -> Flask:
    """Create the app with the given mail settings."""
    app = Flask(__name__)
    app.config.update(MAIL_DEFAULT_SENDER="support@example.test", **config)
    mail = Mail(app)

    @app.post("/reset")
    def reset() -> dict[str, bool]:
        address = request.form["email"]
        mail.send(
            Message(
                "Reset your password",
                recipients=[address],
                body="Open https://app.example.test/reset/abc123 to choose a new password.",
            )
        )
        return {"sent": True}

    return app
