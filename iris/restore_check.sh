#!/bin/bash
# Check restored IRIS databases on a restore drill's scratch instance (python -m ops restore-drill).
#
# VOLUMES: VOLUME_ID:MOUNT_POINT pairs, e.g. "vol-0abc:/iris/db vol-0def:/iris/jrn1". Each restored
# volume is found by its EBS volume id (the NVMe serial) and mounted; a volume without a file
# system is an error, never formatted. IRIS then starts from IMAGE with a %SYS of its own (the
# restored durable %SYS would make it a mirror member) and no network, and CheckList^Integrity
# (InterSystems' Integrity Check API) checks every database directory under the restored
# $IRIS_ROOT/db/data. Prints one line and exits:
#   IRIS_INTEGRITY|OK|<directories>|               0: no errors
#   IRIS_INTEGRITY|ERRORS|<directories>|<status>   3: errors found, or the check could not finish
#   (no such line)                                 1: the check did not run
set -euo pipefail

IRIS_ROOT="${IRIS_ROOT:-/iris}"
DEV_ROOT="${DEV_ROOT:-/dev}"
IRIS_INSTANCE="${IRIS_INSTANCE:-IRIS}"
CONTAINER="${CONTAINER:-iris-restore-check}"
WAIT_SECONDS="${WAIT_SECONDS:-600}"
POLL_SECONDS="${POLL_SECONDS:-5}"
# Parallel check processes; below 1 means one per core (CheckList^Integrity's maxproc).
MAXPROC="${MAXPROC:-0}"
ERRORS_EXIT=3

log() { logger -t iris-restore-check -- "$*" 2>/dev/null || true; echo "iris-restore-check: $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

device_of() {
  local candidate="${DEV_ROOT}/disk/by-id/nvme-Amazon_Elastic_Block_Store_${1/-/}" waited=0
  until [ -e "$candidate" ]; do
    [ "$waited" -lt "$WAIT_SECONDS" ] || return 1
    sleep "$POLL_SECONDS"; waited=$((waited + POLL_SECONDS))
  done
  readlink -f "$candidate"
}

mount_restored() {
  local spec volume_id mount_point path
  for spec in $VOLUMES; do
    IFS=: read -r volume_id mount_point <<<"$spec"
    path=$(device_of "$volume_id") || fail "restored volume $volume_id is not attached after ${WAIT_SECONDS}s"
    blkid -o value -s TYPE "$path" >/dev/null 2>&1 || fail "restored volume $volume_id ($path) holds no file system"
    mkdir -p "$mount_point"
    mountpoint -q "$mount_point" || mount "$path" "$mount_point" || fail "cannot mount $volume_id at $mount_point"
    log "$volume_id ($path) mounted at $mount_point"
  done
}

# Run ObjectScript lines (stdin) in %SYS; `iris session` reads until halt.
objectscript() { { cat; echo "halt"; } | docker exec -i "$CONTAINER" iris session "$IRIS_INSTANCE" -U %SYS; }

start_iris() {
  docker image inspect "$IMAGE" >/dev/null 2>&1 || {
    aws ecr get-login-password --region "$AWS_REGION" | docker login --username AWS --password-stdin "${IMAGE%%/*}" >/dev/null \
      || fail "cannot log in to ${IMAGE%%/*}"
    docker pull --quiet "$IMAGE" >/dev/null || fail "cannot pull $IMAGE"
  }
  docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
  docker run -d --name "$CONTAINER" --network none --cap-add IPC_LOCK \
    -v "$IRIS_ROOT/db/data:$IRIS_ROOT/db/data" "$IMAGE" >/dev/null || fail "cannot start IRIS from $IMAGE"
  local waited=0
  until echo 'write "IRIS-"_"UP",!' | objectscript 2>/dev/null | grep -q 'IRIS-UP'; do
    [ "$waited" -lt "$WAIT_SECONDS" ] || fail "IRIS did not start within ${WAIT_SECONDS}s"
    sleep "$POLL_SECONDS"; waited=$((waited + POLL_SECONDS))
  done
}

main() {
  [ -n "${VOLUMES:-}" ] || fail "VOLUMES is empty"
  [ -n "${IMAGE:-}" ] || fail "IMAGE is empty"
  mount_restored
  local dirs=() dir list=""
  for dir in "$IRIS_ROOT"/db/data/*/; do
    [ -f "${dir}IRIS.DAT" ] && dirs+=("$dir")
  done
  [ "${#dirs[@]}" -gt 0 ] || fail "no database (IRIS.DAT) under $IRIS_ROOT/db/data on the restored volume"
  for dir in "${dirs[@]}"; do list="${list:+$list,}\"$dir\""; done
  start_iris
  log "checking ${dirs[*]}"
  local output answer
  # The tag is built by concatenation so that an echo of the input is never taken for the answer.
  output=$(objectscript <<EOF | tr -d '\r'
set sc=\$\$CheckList^Integrity(,\$listbuild($list),0,,$MAXPROC)
if 'sc do Display^Integrity(,2)
write "IRIS_"_"INTEGRITY|",\$select(\$system.Status.IsOK(sc):"OK",1:"ERRORS"),"|${#dirs[@]}|",\$select(sc:"",1:\$translate(\$system.Status.GetErrorText(sc),\$char(13,10),"  ")),!
EOF
  ) || true
  docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
  # What Display^Integrity reported (errors only) goes to the command's error output, for the report.
  printf '%s\n' "$output" | grep -v '^IRIS_INTEGRITY|' | tail -n 50 >&2 || true
  answer=$(printf '%s\n' "$output" | grep '^IRIS_INTEGRITY|' | tail -1) || true
  [ -n "$answer" ] || fail "CheckList^Integrity gave no answer"
  echo "$answer"
  case "$answer" in
    "IRIS_INTEGRITY|OK|"*) exit 0 ;;
    *) exit "$ERRORS_EXIT" ;;
  esac
}

main "$@"
