# syntax=docker/dockerfile:1
# One image for every dasedge role: the command selects it
#   (ingest | traffic-worker | seismic-worker | serve | cloud | simulate | demo).
# Build:  docker build -t dasedge:latest .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml constraints.txt README.md ./
COPY dasedge ./dasedge
COPY pipelines ./pipelines
COPY service ./service
# Runtime dependencies only (no torch, no test tools); pinned by constraints.txt.
RUN /opt/venv/bin/pip install --no-compile -c constraints.txt . \
 && /opt/venv/bin/python -c "import crc32c, kafka, onnxruntime, h5py"

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="dasedge" \
      org.opencontainers.image.description="DAS edge computing: traffic and earthquake pipelines over Kafka" \
      org.opencontainers.image.licenses="MIT"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DASEDGE_DB_URL=/var/lib/dasedge/dasedge.sqlite \
    DASEDGE_SEISMIC_MODEL=/opt/dasedge/models/phasenet_das/phasenet_das_edge.onnx
RUN groupadd --system --gid 10001 dasedge \
 && useradd --system --uid 10001 --gid dasedge --home-dir /var/lib/dasedge --create-home dasedge
COPY --from=build /opt/venv /opt/venv
# The ONNX models ship inside the image (each < 50 MB, with licence and card).
COPY models /opt/dasedge/models
COPY deploy/sites /opt/dasedge/sites
USER 10001:10001
WORKDIR /var/lib/dasedge
VOLUME ["/var/lib/dasedge"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys,urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["dasedge"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
