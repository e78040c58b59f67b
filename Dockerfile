# dealbridge daemon image. Build: docker build -t dealbridge .
# Run:   docker run -v $PWD/config.yaml:/etc/dealbridge/config.yaml:ro \
#          -v $PWD/mappings:/etc/dealbridge/mappings:ro -e DEALBRIDGE__STATE__URL=postgresql://... \
#          -e DEALBRIDGE_ZENDESK_TOKEN=... -p 8080:8080 dealbridge
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DEALBRIDGE__STATE__URL=sqlite:////var/lib/dealbridge/state.db
WORKDIR /opt/dealbridge
COPY pyproject.toml README.md ./
COPY connectors ./connectors
COPY sync_jobs ./sync_jobs
COPY sandbox ./sandbox
RUN pip install . && useradd --system --home /var/lib/dealbridge --create-home dealbridge

USER dealbridge
WORKDIR /var/lib/dealbridge
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["dealbridge", "--log-format", "json", "--log-level", "info"]
CMD ["daemon", "--config", "/etc/dealbridge/config.yaml", "--health-host", "0.0.0.0", "--health-port", "8080"]
