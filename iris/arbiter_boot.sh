#!/bin/bash
# Run the mirror arbiter: the InterSystems ISCAgent from the arbiter image, in
# the foreground for systemd (iris-arbiter.service restarts it). The arbiter
# has no IRIS instance, so it has no configuration beyond its port.
# Reads $CONF_DIR/member.env: ARBITER_IMAGE, REGISTRY, AWS_REGION.
set -euo pipefail
CONF_DIR="${IRIS_AWS_CONF_DIR:-/etc/iris-aws}"
# shellcheck source=/dev/null
. "$CONF_DIR/member.env"
readonly AGENT_PORT=2188

log() { logger -t iris-arbiter -- "$*" 2>/dev/null || true; echo "iris-arbiter: $*" >&2; }

if ! docker image inspect "$ARBITER_IMAGE" >/dev/null 2>&1; then
  aws ecr get-login-password --region "$AWS_REGION" | docker login --username AWS --password-stdin "$REGISTRY" >/dev/null \
    || { log "FAILED: cannot log in to $REGISTRY"; exit 1; }
  docker pull --quiet "$ARBITER_IMAGE" >/dev/null || { log "FAILED: cannot pull $ARBITER_IMAGE"; exit 1; }
fi
docker rm -f arbiter >/dev/null 2>&1 || true
log "starting the ISCAgent on port $AGENT_PORT"
exec docker run --rm --name arbiter --network host --init "$ARBITER_IMAGE" /usr/local/etc/irissys/startISCAgent.sh "$AGENT_PORT"
