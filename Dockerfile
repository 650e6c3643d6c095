# Slim image, non-root user; the entrypoint migrates the database, then serves with uvicorn.
# Debian bookworm: the release whose font package version is pinned below
FROM python:3.11-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv/app
# the CJK font of the printable documents (activation letters, ballot slips, notice posters): Debian's
# fonts-droid-fallback (Apache-2.0, one TrueType file), pointed at by PDF_FONT_PATH below; the version is the
# one scripts/fetch_font.sh pins for development and tests (tests/core/test_image.py keeps them equal)
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-droid-fallback=1:6.0.1r16-1.1 \
 && rm -rf /var/lib/apt/lists/*
ENV PDF_FONT_PATH=/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf
COPY pyproject.toml README.md alembic.ini ./
COPY requirements ./requirements
# the locked, hash-checked versions first (scripts/lock.sh writes them), then the project without resolving
RUN pip install --require-hashes -r requirements/runtime.lock
COPY app ./app
COPY alembic ./alembic
RUN pip install --no-deps --no-build-isolation . \
 && useradd --system --uid 10001 --home /srv/app appuser \
 && mkdir -p /srv/app/data && chown -R appuser /srv/app/data
USER appuser
ENV DATABASE_URL=sqlite+aiosqlite:////srv/app/data/app.db MEDIA_DIR=/srv/app/data/media ENVIRONMENT=production
# two glibc malloc arenas instead of up to 8 per core: freed photo bitmaps are reused, peak memory stays lower
ENV MALLOC_ARENA_MAX=2
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz'); sys.exit(0)"
CMD ["python", "-m", "app", "serve", "--host", "0.0.0.0", "--port", "8000"]
