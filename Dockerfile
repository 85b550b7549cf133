# mailsink in a container: SMTP on 1025, web UI and API on 8025, mail kept in /data.
#
#   docker build -t mailsink .
#   docker run -p 1025:1025 -p 8025:8025 -v mailsink-data:/data mailsink
#
# Every option is an environment variable (MAILSINK_<OPTION>) or an argument:
#   docker run ... mailsink --ui-auth team:change-me --label staging
# tests/test_docker.py starts the command and environment below the way the image does.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY pyproject.toml README.md /src/
COPY mailsink /src/mailsink
COPY web /src/web
COPY pytest_plugin /src/pytest_plugin
RUN pip install /src && rm -rf /src \
    && useradd --system --uid 1025 --user-group --home-dir /data --create-home mailsink

USER mailsink
WORKDIR /data
VOLUME ["/data"]

# Inside the container every interface is bound (the port mapping decides who can reach
# it); the SQLite store and the generated certificate live in the volume.
ENV MAILSINK_SMTP=0.0.0.0:1025 \
    MAILSINK_HTTP=0.0.0.0:8025 \
    MAILSINK_STORE=/data/mail.db \
    MAILSINK_TLS_DIR=/data/tls
EXPOSE 1025 8025

# /readyz answers at the root whatever --webroot, and without a login; https with --ui-tls.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import os, ssl, urllib.request as u; tls = os.environ.get('MAILSINK_UI_TLS', '').lower() in ('1', 'true', 'yes', 'on') or bool(os.environ.get('MAILSINK_UI_TLS_CERT')); u.urlopen(('https' if tls else 'http') + '://127.0.0.1:8025/readyz', timeout=2, context=ssl._create_unverified_context() if tls else None)"]

ENTRYPOINT ["mailsink"]
