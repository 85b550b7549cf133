"""The examples are small projects of their own; tests/test_plugin_examples.py runs each one."""

collect_ignore = ["django_signup", "flask_mail_app"]
