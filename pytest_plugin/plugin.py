"""pytest entry point: registers mailsink's fixtures and options (see README)."""
