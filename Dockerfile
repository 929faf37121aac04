# Orca's container image: Debian's Python 3.11 and a virtualenv holding the app, run as an unprivileged user.
#
# The build stage makes the virtualenv; the final stage copies it onto a fresh base with only the Python runtime, so
# the image holds no pip, compiler or package lists. Both stages use `debian:bookworm-slim` with Debian's python3
# (not `python:*-slim`) so the image also builds where only a locally made Debian base exists, see
# scripts/containers/build_base.sh.
#
# Build behind a TLS-intercepting proxy: mount its CA bundle and name it, e.g.
#   podman build --volume /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro --build-arg PIP_CERT=/run/host-ca.crt .
# The bundle is read through the mount during the build only and never stored in a layer.

FROM debian:bookworm-slim AS build

# Package versions come from the pinned base image's Debian release; see .hadolint.yaml.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# Optional path to an extra CA bundle for pip, available during the build only (see above).
ARG PIP_CERT=""

WORKDIR /src
RUN python3 -m venv /opt/orca

# Dependencies first, from setup.cfg alone, so that a change to the code reuses this layer. All but pgserver: the
# image never runs the embedded database (`orca serve` refuses to fall back to one), and its PostgreSQL binaries
# would add 34 MB to an image that must stay under 200 MB.
COPY setup.cfg pyproject.toml ./
COPY scripts/containers/requirements.py /tmp/requirements.py
RUN [ -n "$PIP_CERT" ] || unset PIP_CERT; \
    python3 /tmp/requirements.py setup.cfg --exclude pgserver > /tmp/requirements.txt \
    && /opt/orca/bin/pip install --no-cache-dir -r /tmp/requirements.txt

COPY README.md ./
COPY orca ./orca
COPY cloudformation ./cloudformation
COPY scripts ./scripts
# The app itself, then pip and setuptools out of the virtualenv: the final image installs nothing.
RUN [ -n "$PIP_CERT" ] || unset PIP_CERT; \
    /opt/orca/bin/pip install --no-cache-dir --no-deps . \
    && /opt/orca/bin/pip uninstall --yes pip setuptools \
    && /opt/orca/bin/python -c 'import orca'


FROM debian:bookworm-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 orca \
    && useradd --uid 10001 --gid orca --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin orca

COPY --from=build /opt/orca /opt/orca

ENV PATH=/opt/orca/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8080

# Numeric, so that a runtime (Kubernetes' runAsNonRoot, ECS) can verify it is not root without reading /etc/passwd.
USER 10001:10001
EXPOSE 8080

# No HEALTHCHECK: ECS and the ALB probe /_livez themselves, and the image has no HTTP client to spare.
ENTRYPOINT ["orca"]
CMD ["serve", "--host", "0.0.0.0"]
