#!/bin/bash
# Prepare an ECP client (an application or print server): its cache on the
# instance store, and its connection to the mirror.
#
# Reads $CONF_DIR/ecp-client.env (written by the user data): IRIS_INSTANCE,
# IRIS_OS_USER and CACHE_MOUNT; and beside it ecp-servers.cpf, a
# configuration merge file whose [ECPServers] entry names a failover member
# as a mirror connection.
#
# Runs at every boot (iris-ecp-client.service): an instance store is blank
# again after a stop and start, so it is formatted and mounted each time it
# holds no file system. Idempotent. The golden image provides IRIS (the
# `iris` command) installed as an ECP client.
set -euo pipefail

CONF_DIR="${CONF_DIR:-/etc/iris-aws}"
DEV_ROOT="${DEV_ROOT:-/dev}"
# shellcheck source=/dev/null
. "$CONF_DIR/ecp-client.env"

fail() { echo "iris-ecp-client-setup: $*" >&2; exit 1; }
log() { logger -t iris-ecp-client -- "$*" 2>/dev/null || true; echo "$*"; }

command -v iris >/dev/null || fail "IRIS is not installed on the ECP client image (app.ecp_ami_ids)"
id -u "$IRIS_OS_USER" >/dev/null 2>&1 || fail "the IRIS owner $IRIS_OS_USER does not exist on this image"

# The first NVMe instance-store device, when the instance type has one.
device=""
for candidate in "$DEV_ROOT"/disk/by-id/nvme-Amazon_EC2_NVMe_Instance_Storage_*; do
  case "$candidate" in *-part*) continue ;; esac
  if [ -e "$candidate" ]; then
    device=$(readlink -f "$candidate")
    break
  fi
done

mkdir -p "$CACHE_MOUNT"
if [ -n "$device" ]; then
  if ! blkid -o value -s TYPE "$device" >/dev/null 2>&1; then
    mkfs.xfs -q "$device"
  fi
  if ! mountpoint -q "$CACHE_MOUNT"; then
    mount -o noatime "$device" "$CACHE_MOUNT"
  fi
  log "instance store ${device} mounted at ${CACHE_MOUNT}"
else
  log "no instance store on this instance type: ${CACHE_MOUNT} stays on the root volume"
fi
chown "$IRIS_OS_USER" "$CACHE_MOUNT"

iris merge "$IRIS_INSTANCE" "$CONF_DIR/ecp-servers.cpf" || fail "iris merge of $CONF_DIR/ecp-servers.cpf failed"
log "ECP data server configured from $CONF_DIR/ecp-servers.cpf"
