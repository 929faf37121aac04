#!/usr/bin/env bash
# The image check: builds the container image with podman and proves it against a real PostgreSQL.
#
#   1. installs podman, runc and debootstrap with apt-get when missing (CI runs as root on a fresh Debian machine);
#   2. builds the local base image localhost/debian:bookworm-slim with debootstrap when missing (no registry here);
#   3. builds the app image (`podman build --pull=never`);
#   4. checks that it runs as a numeric non-root user, holds no pip or compiler, and is under MAX_SIZE_MB;
#   5. starts it against a fresh database (PostgreSQL on 127.0.0.1:5432 if one answers, otherwise an embedded
#      server from the project's .venv) and times `podman run` to the first 200 from /_livez (< MAX_START_S);
#   6. runs the black-box suite tests/e2e against it (ORCA_BASE_URL);
#   7. stops it with SIGTERM and checks that it exits 0.
# It prints its figures and exits non-zero if any check failed. Containers, the database and any embedded server
# are removed on exit, whatever happens.
#
# env: ORCA_IMAGE (default localhost/orca:check), ORCA_IMAGE_CHECK_ADMIN_URL (a PostgreSQL URL allowed to create
#      databases; default postgresql://postgres@127.0.0.1:5432/postgres), ORCA_CONTAINER_ENGINE (podman, the
#      default, or docker: then steps 1 and 2 are skipped and the base image is pulled, as on GitHub's runners).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly ENGINE=${ORCA_CONTAINER_ENGINE:-podman}
readonly IMAGE=${ORCA_IMAGE:-localhost/orca:check}
readonly BASE_IMAGE=localhost/debian:bookworm-slim
readonly MAX_SIZE_MB=200   # megabytes of 10^6 bytes, as podman reports them
readonly MAX_START_S=2
readonly ADMIN_URL=${ORCA_IMAGE_CHECK_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
readonly HOST_CA=/etc/ssl/certs/ca-certificates.crt
readonly VENV_PY=.venv/bin/python
CONTAINERS_CONF=$PWD/scripts/containers/containers.conf
export CONTAINERS_CONF

started_ns=$(date +%s%N)
failures=0
container=""
database=""
embedded_dir=""
pg_bin=""
admin_url=$ADMIN_URL   # an embedded server's, when step 5 has to start one

say() { printf 'image-check: %s\n' "$*" >&2; }
fail() {
    say "FAIL: $*"
    failures=$((failures + 1))
}
elapsed() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }

cleanup() {
    set +e
    [ -n "$container" ] && "$ENGINE" rm --force "$container" >/dev/null 2>&1
    [ -n "$database" ] && "$VENV_PY" - "$admin_url" "$database" <<'PY' >/dev/null 2>&1
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute(f'DROP DATABASE IF EXISTS "{sys.argv[2]}" WITH (FORCE)')
PY
    if [ -n "$embedded_dir" ]; then
        as_postgres "$pg_bin/pg_ctl" -D "$embedded_dir/data" -m immediate -w stop >/dev/null 2>&1
        rm -rf "$embedded_dir"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
listening() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
# PostgreSQL refuses to run as root: as root, run its binaries as nobody.
as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi
}

case $ENGINE in
podman | docker) ;;
*)
    say "ORCA_CONTAINER_ENGINE must be podman or docker, not '$ENGINE'"
    exit 2
    ;;
esac

# --- 1. tools -------------------------------------------------------------------------------------------------
missing=()
if [ "$ENGINE" = podman ]; then
    for tool in podman runc debootstrap; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
fi
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]} with apt-get"
    t=$(date +%s%N)
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq podman buildah runc debootstrap >/dev/null
    say "tools installed in $(elapsed "$t") s"
fi
if [ ! -x "$VENV_PY" ]; then
    say "creating .venv for the black-box suite"
    make -s .venv/.installed
fi

# --- 2. base image --------------------------------------------------------------------------------------------
if [ "$ENGINE" = podman ] && ! podman image exists "$BASE_IMAGE"; then
    say "building $BASE_IMAGE with debootstrap"
    t=$(date +%s%N)
    bash scripts/containers/build_base.sh "$BASE_IMAGE"
    say "base image built in $(elapsed "$t") s"
fi

# --- 3. app image ---------------------------------------------------------------------------------------------
build_args=(--tag "$IMAGE" --file Dockerfile)
if [ "$ENGINE" = docker ]; then
    build_args+=(--pull)
else
    # No registry to pull from: FROM debian:bookworm-slim resolves to the local base image.
    build_args+=(--pull=never)
fi
if [ "$ENGINE" = podman ] && [ -r "$HOST_CA" ]; then
    # A TLS-intercepting proxy may re-sign the package index: give pip the host's bundle, for the build only.
    build_args+=(--volume "$HOST_CA:/run/host-ca.crt:ro" --build-arg PIP_CERT=/run/host-ca.crt)
fi
say "building $IMAGE"
t=$(date +%s%N)
if ! "$ENGINE" build "${build_args[@]}" . >/tmp/orca-image-build.log 2>&1; then
    tail -n 40 /tmp/orca-image-build.log >&2
    fail "$ENGINE build failed (full log: /tmp/orca-image-build.log)"
    exit 1
fi
build_s=$(elapsed "$t")

# --- 4. static checks on the image ----------------------------------------------------------------------------
user=$("$ENGINE" image inspect --format '{{.Config.User}}' "$IMAGE")
uid=${user%%:*}
if [[ ! "$uid" =~ ^[0-9]+$ ]] || [ "$uid" -eq 0 ]; then
    fail "image user is '$user', want a numeric non-root uid"
fi
size_bytes=$("$ENGINE" image inspect --format '{{.Size}}' "$IMAGE")
size_mb=$(awk -v b="$size_bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
if [ "$size_bytes" -ge $((MAX_SIZE_MB * 1000 * 1000)) ]; then
    fail "image is $size_mb MB, limit $MAX_SIZE_MB MB"
fi
tools_inside=$("$ENGINE" run --rm --entrypoint /bin/sh "$IMAGE" -c \
    'for t in pip pip3 gcc cc make; do command -v "$t"; done; true')
if [ -n "$tools_inside" ]; then
    fail "the final image holds build tools: $(echo "$tools_inside" | tr '\n' ' ')"
fi

# --- 5. a database and the running container ------------------------------------------------------------------
database="orca_image_check_$$_$(date +%s)"
if ! listening 127.0.0.1 5432 && [ -z "${ORCA_IMAGE_CHECK_ADMIN_URL:-}" ]; then
    # A fresh machine: run pgserver's PostgreSQL binaries ourselves, on TCP (pgserver itself listens on a socket
    # only, which the container's user could not reach).
    # Found without importing pgserver, which would warn about XDG_RUNTIME_DIR and start nothing we want.
    pg_bin=$("$VENV_PY" -c 'import importlib.util as u; print(u.find_spec("pgserver").submodule_search_locations[0])')
    pg_bin=$pg_bin/pginstall/bin
    embedded_dir=$(mktemp -d /tmp/orca-image-check-pg.XXXXXX)
    if [ "$(id -u)" = 0 ]; then
        chmod 0755 "$embedded_dir"
        chown nobody "$embedded_dir"
    fi
    pg_port=$(free_port)
    say "no PostgreSQL on 127.0.0.1:5432: starting an embedded one on port $pg_port"
    as_postgres "$pg_bin/initdb" -D "$embedded_dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
    as_postgres "$pg_bin/pg_ctl" -D "$embedded_dir/data" -l "$embedded_dir/log" -w \
        -o "-h 127.0.0.1 -p $pg_port -k $embedded_dir" start >/dev/null
    admin_url="postgresql://postgres@127.0.0.1:$pg_port/postgres"
fi
# Prints the new database's connection string: the admin one with its database name replaced.
database_url=$("$VENV_PY" - "$admin_url" "$database" <<'PY'
import sys, psycopg
from psycopg.conninfo import make_conninfo
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute(f'CREATE DATABASE "{sys.argv[2]}"')
print(make_conninfo(sys.argv[1], dbname=sys.argv[2]))
PY
)

port=$(free_port)
say "starting the container on port $port"
run_ns=$(date +%s%N)
container=$("$ENGINE" run --detach --network=host --env "DATABASE_URL=$database_url" --env "PORT=$port" "$IMAGE")
if ! start_s=$(python3 scripts/containers/wait_http.py "http://127.0.0.1:$port/_livez" --since-ns "$run_ns" \
    --timeout 30); then
    "$ENGINE" logs "$container" 2>&1 | tail -n 30 >&2
    fail "no 200 from /_livez within 30 s"
    exit 1
fi
if awk -v s="$start_s" -v m="$MAX_START_S" 'BEGIN { exit !(s >= m) }'; then
    fail "first 200 from /_livez after $start_s s, limit $MAX_START_S s"
fi
running_uid=$("$ENGINE" exec "$container" id -u)
if [ "$running_uid" = 0 ]; then
    fail "the container runs as root"
fi

# --- 6. the black-box suite -----------------------------------------------------------------------------------
say "running tests/e2e against the container"
t=$(date +%s%N)
if ! ORCA_BASE_URL="http://127.0.0.1:$port" "$VENV_PY" -m pytest tests/e2e -q -p no:cacheprovider; then
    "$ENGINE" logs "$container" 2>&1 | tail -n 30 >&2
    fail "the black-box suite failed against the container"
fi
e2e_s=$(elapsed "$t")

# --- 7. graceful stop -----------------------------------------------------------------------------------------
# Longer than the service's graceful drain, as ECS's stop timeout is.
"$ENGINE" stop --time 25 "$container" >/dev/null
exit_code=$("$ENGINE" inspect --format '{{.State.ExitCode}}' "$container")
if [ "$exit_code" != 0 ]; then
    "$ENGINE" logs "$container" 2>&1 | tail -n 30 >&2
    fail "the container exited with $exit_code after SIGTERM, want 0"
fi

printf 'image-check: image %s: %s MB (limit %s), user %s, build %s s, run to /_livez 200 in %s s (limit %s), e2e %s s, exit on SIGTERM %s, total %s s\n' \
    "$IMAGE" "$size_mb" "$MAX_SIZE_MB" "$user" "$build_s" "$start_s" "$MAX_START_S" "$e2e_s" "$exit_code" \
    "$(elapsed "$started_ns")"
if [ "$failures" -gt 0 ]; then
    say "$failures check(s) failed"
    exit 1
fi
say "all checks passed"
