"""A minimal Django project: one view that emails a confirmation link and code."""

SECRET_KEY = "example-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
INSTALLED_APPS: list[str] = []
ROOT_URLCONF = "signup_urls"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
DEFAULT_FROM_EMAIL = "Signup <noreply@example.test>"
# Production mail settings; the test points them at the mailsink fixture.
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "smtp.example.invalid"
EMAIL_PORT = 587
EMAIL_USE_TLS = True
