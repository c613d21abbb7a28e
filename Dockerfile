# Carebook production image: multi-stage, slim, non-root.
# Build: docker build -t carebook .   (needs a Docker engine; CI validates the compose file only)

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /build
COPY requirements.txt .
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --upgrade pip \
 && /opt/venv/bin/pip install -r requirements.txt

FROM python:3.11-slim AS runtime
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    DJANGO_ENV=production
RUN groupadd --system carebook && useradd --system --gid carebook --home /app carebook
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=carebook:carebook . .
# collectstatic needs settings to import; throwaway keys are used for this build step only
# (production refuses to start without each required secret: config/settings.py).
RUN SECRET_KEY=build-only-collectstatic-key-not-used-at-runtime-0000000000 \
    AUDIT_FINGERPRINT_KEY=build-only-audit-key-not-used-at-runtime-000 \
    ALLOWED_HOSTS=localhost DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    python manage.py collectstatic --noinput \
 && mkdir -p /app/.data /tmp/prometheus && chown -R carebook:carebook /app/.data /tmp/prometheus
USER carebook
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--config", "config/gunicorn_conf.py", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
