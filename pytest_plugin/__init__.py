"""The pytest plugin of mailsink (installed as ``mailsink.pytest_plugin``)."""
