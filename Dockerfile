# The dashboard, built from its lockfile (make web does the same on a developer's machine).
FROM node:20-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web ./
RUN npm run build

# One image for the API, the worker and the one-shot setup steps (migrations, bootstrap).
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md ./
COPY settings.py worker.py log_setup.py ./
COPY api api
COPY applications applications
COPY activities activities
COPY clients clients
COPY db db
COPY domain domain
COPY devstack devstack
COPY emulators emulators
COPY runtime runtime
COPY --from=web /web/dist web/dist
COPY workflows workflows
RUN pip install .
EXPOSE 8000
# python -m api: uvicorn with the trusted proxies of LONGRUN_FORWARDED_ALLOW_IPS (none unless set) and websocket
# messages bounded by LONGRUN_WEBSOCKET_MAX_MESSAGE_BYTES; never uvicorn directly, which would drop both. Behind a load
# balancer set LONGRUN_FORWARDED_ALLOW_IPS to its address or network: sign-in throttling then counts the client
# X-Forwarded-For names, believed from that proxy alone. Workers: `python worker.py` (docker-compose.yml).
CMD ["python", "-m", "api", "--host", "0.0.0.0", "--port", "8000"]
