# Tandem server image, built from this checkout's Python package (pyproject.toml): the
# same wheel `pip install .` makes, with the PostgreSQL extra. docs/deploy.md, "Containers".
#   docker build -t tandem-rtc .
#   docker run -p 8000:8000 -v tandem-data:/var/lib/tandem tandem-rtc        # SQLite
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[postgres]'

FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/tandem tandem
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels 'tandem-rtc[postgres]' \
    && rm -rf /wheels
USER tandem
WORKDIR /var/lib/tandem
# Listen on every interface inside the container; SQLite data in the volume unless
# TANDEM_DATABASE_URL names a PostgreSQL database. Any TANDEM_* setting can be added.
ENV TANDEM_HOST=0.0.0.0 \
    TANDEM_PORT=8000 \
    TANDEM_DATA_DIR=/var/lib/tandem \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/tandem"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["tandem"]
CMD ["serve"]
