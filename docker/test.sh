#!/usr/bin/env bash
# Builds the images of docker/Dockerfile and runs docker/compose.yaml with
# Debian's podman, runc and podman-compose, then checks the stack as a user
# sees it through nginx's published port:
#   - a message from the client goes nginx -> wsrelay -> Redis and back;
#   - `redis-cli PUBLISH` inside the stack reaches the client, and so does
#     the image's `wsrelay-publish`;
#   - wsrelay's healthcheck passes, and it trusts nginx's address only;
#   - SIGTERM to the gateway's container closes the client with 1001, and
#     wsrelay exits 0.
# Nothing is pulled: the Debian 12 base image is made with debootstrap from
# the host's own Debian mirror and kept (localhost/wsrelay-bookworm-base) for
# the next run. On a busy 2-core machine: about 10 minutes from nothing,
# about 7 after a change to the sources, 15 s when nothing changed.
#   docker/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --container >&2
started=$(date +%s)
work=$(mktemp -d /tmp/wsrelay-docker.XXXXXX)
project="wsrelaytest$$"
compose=(podman-compose -p "$project" -f docker/compose.yaml)

# The host's hard descriptor limit may be below podman's default ulimits
# (1048576), and runc cannot raise it: lower them for this run only.
export CONTAINERS_CONF="$work/containers.conf"
cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=4096:4096"]
EOF
export BASE_IMAGE=localhost/wsrelay-bookworm-base:latest
export NOFILE_LIMIT=16384
# HEALTHCHECK is kept in the Docker image format only (OCI drops it).
export BUILDAH_FORMAT=docker
HTTP_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export HTTP_PORT

cleanup() {
  "${compose[@]}" down -t 20 >/dev/null 2>&1 || true
  podman network rm -f "${project}_default" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
step() { echo "docker/test: $* ($(($(date +%s) - started)) s)"; }

# --- the Debian 12 base, from the mirror the host's apt uses
if ! podman image exists "$BASE_IMAGE"; then
  mirror=$(apt-get indextargets --format '$(REPO_URI) $(CODENAME) $(LABEL)' |
    awk '$2 == "bookworm" && $3 == "Debian" { print $1; exit }')
  [ -n "$mirror" ] || { echo "docker/test: no Debian mirror in /etc/apt/sources*" >&2; exit 1; }
  step "debootstrap --variant=minbase bookworm from $mirror"
  debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/cache/apt/"*.bin \
    "$work/rootfs/var/lib/apt/lists/"*
  tar -C "$work/rootfs" -c . | podman import --change 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$work/rootfs"
fi

# --- the compose file, as Compose v1 (Debian's docker-compose 1.29) reads it
step "docker-compose config -q"
docker-compose -f docker/compose.yaml config -q

step "building the images"
"${compose[@]}" build >"$work/build.log" 2>&1 || true
for image in wsrelay wsrelay-redis wsrelay-nginx; do
  # podman-compose 1.0.3 exits 0 when a build fails: look for the images.
  podman image exists "localhost/$image:latest" || { tail -n 40 "$work/build.log" >&2; exit 1; }
  size=$(podman image inspect --format '{{.Size}}' "localhost/$image:latest")
  echo "docker/test: image $image: $((size / 1000000)) MB"
done

step "starting the stack on 127.0.0.1:$HTTP_PORT"
"${compose[@]}" up -d >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; exit 1; }
wsrelay="${project}_wsrelay_1"
redis="${project}_redis_1"
nginx="${project}_nginx_1"
logs() { for c in "$nginx" "$wsrelay" "$redis"; do echo "--- $c"; podman logs "$c" 2>&1 | tail -n 30; done; }
trap 'status=$?; [ $status -eq 0 ] || logs >&2; cleanup; exit $status' EXIT

ready=""
for _ in $(seq 1 300); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/readyz")" = 200 ]; then
    ready=yes
    break
  fi
  sleep 0.2
done
[ -n "$ready" ] || { echo "docker/test: /readyz through nginx never answered 200" >&2; exit 1; }
step "ready: /readyz through nginx is 200"

# Healthchecks run on a timer only under systemd: run wsrelay's by hand.
podman healthcheck run "$wsrelay"
step "healthcheck: healthy"

# Trusted: nginx's own address, found at start by the entrypoint.
nginx_address=$(podman inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$nginx")
# (grep reads captured logs: `podman logs | grep -q` fails under pipefail
# when grep stops reading first.)
wsrelay_log=$(podman logs "$wsrelay" 2>&1)
grep -qF "auth.trusted_proxies = $nginx_address (TRUST_PROXY_HOSTS=nginx)" <<<"$wsrelay_log" ||
  { echo "docker/test: wsrelay does not trust nginx's address $nginx_address" >&2; exit 1; }
step "trusted proxy: $nginx_address (nginx) only"

[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/metrics")" = 404 ]
step "/metrics is not published"

python3 docker/ws_probe.py "$HTTP_PORT" "/ws/stack?subscribe-broadcast&publish-broadcast&echo" \
  "send:round trip" "expect:round trip" \
  "run:[ \"\$(podman exec $redis redis-cli GET broadcast:stack)\" = 'round trip' ]" \
  "run:podman exec $redis redis-cli PUBLISH broadcast:stack from-redis-cli >/dev/null" \
  "expect:from-redis-cli" \
  "run:podman exec $wsrelay wsrelay-publish --redis redis://redis:6379 -f stack -b from-cli" \
  "expect:from-cli" \
  "run:podman kill --signal TERM $wsrelay >/dev/null" \
  "close:1001"
step "round trip, redis-cli PUBLISH, wsrelay-publish, SIGTERM -> 1001"

stopped=""
for _ in $(seq 1 100); do
  wsrelay_log=$(podman logs "$wsrelay" 2>&1)
  grep -qF "wsrelay stopped (exit code 0)" <<<"$wsrelay_log" && { stopped=yes; break; }
  sleep 0.2
done
[ -n "$stopped" ] || { echo "docker/test: wsrelay did not log a clean stop" >&2; exit 1; }
step "wsrelay drained and exited 0"
echo "docker/test: every check passed ($(($(date +%s) - started)) s)"
