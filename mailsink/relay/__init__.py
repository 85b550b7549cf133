"""Relay: send stored mail on to a real mail server, by hand (release) or by rule (auto-relay).

A map of the subpackage, in the order a message travels:

* ``settings.py`` - what the user configured: the upstream URL (``--relay``,
  parsed into :class:`~mailsink.relay.settings.Upstream`, whose password is
  never shown), the allowlist, the auto-relay rules, the retry schedule;
  ``--relay-config FILE`` (TOML or YAML) gives the same in a file.
* ``trail.py`` - the one header prepended to the stored bytes before they go.
* ``client.py`` - one delivery attempt over SMTP, SMTPS or SMTP+STARTTLS with
  AUTH (``smtplib`` on a thread), classified as sent, deferred (4xx, the
  network) or failed (5xx).
* ``relayer.py`` - :class:`~mailsink.relay.relayer.Relayer`: matches new
  messages against the auto-relay rules (after the 250, on its own thread),
  releases on request, retries with backoff, and keeps every job and attempt
  in the store (``put_relay``/``relays``/``pending_relays``/``forget_relays``
  of the store contract), so results show on the message and pending relays
  resume after a restart with a disk store.

Only the configured upstream is ever connected to: message content never
chooses where mail goes, only the user's rules and release requests do.
Nothing here imports Flask.
"""
