# One image for every role: `touchgrass api | generate | publish | monitor | migrate`.
# Python 3.11 and Node.js 20 (Debian bookworm ships python3.11), the prover's JS
# dependencies installed and the circuits compiled into the image's cache at build time.
FROM node:20-bookworm-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-pip curl ca-certificates \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 touchgrass \
 && mkdir -p /app /opt/venv /opt/touchgrass \
 && chown -R touchgrass /app /opt/venv /opt/touchgrass

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PROVER_JS_DIR=/opt/touchgrass/prover-js \
    CIRCUIT_CACHE_PATH=/opt/touchgrass/circuits \
    STORAGE_DIR=/opt/touchgrass/images \
    LOG_FORMAT=json \
    PYTHONUNBUFFERED=1

USER touchgrass
WORKDIR /app
RUN python3 -m venv /opt/venv
COPY --chown=touchgrass . /app
# The same script CI runs (.ci/run): package, JS dependencies, compiled circuits.
RUN bash scripts/install.sh --compile

EXPOSE 3000
# Meaningful for the api role; the other roles' services set no HTTP health check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${PORT:-3000}/health" || exit 1
ENTRYPOINT ["touchgrass"]
CMD ["api"]
