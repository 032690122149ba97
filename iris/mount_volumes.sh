#!/bin/bash
# Format (first boot only) and mount the IRIS data volumes of a mirror member.
#
# Each argument is VOLUME_ID:DEVICE:MOUNT_POINT, e.g. vol-0abc:/dev/sdf:/iris/db.
# A volume is found by its EBS volume id (the NVMe serial on Nitro instances),
# or by its attachment device on Xen instances; never by discovery order.
# Idempotent: a volume that already holds a file system is never formatted
# again, and /etc/fstab gains each entry once.
set -euo pipefail

FSTAB="${FSTAB:-/etc/fstab}"
DEV_ROOT="${DEV_ROOT:-/dev}"
WAIT_SECONDS="${WAIT_SECONDS:-600}"

find_device() {
  local volume_id="$1" device="$2" serial candidate
  serial="${volume_id/-/}"
  for candidate in "${DEV_ROOT}/disk/by-id/nvme-Amazon_Elastic_Block_Store_${serial}" \
                   "${DEV_ROOT}/${device#/dev/}" "${DEV_ROOT}/xvd${device#/dev/sd}"; do
    if [ -e "$candidate" ]; then
      readlink -f "$candidate"
      return 0
    fi
  done
  return 1
}

mount_volume() {
  local volume_id="$1" device="$2" mount_point="$3" path="" waited=0 uuid
  until path=$(find_device "$volume_id" "$device"); do
    if [ "$waited" -ge "$WAIT_SECONDS" ]; then
      echo "volume ${volume_id} (${device}) is not attached after ${WAIT_SECONDS}s" >&2
      return 1
    fi
    sleep 5
    waited=$((waited + 5))
  done
  if ! blkid -o value -s TYPE "$path" >/dev/null 2>&1; then
    mkfs.xfs -q "$path"
  fi
  uuid=$(blkid -o value -s UUID "$path")
  mkdir -p "$mount_point"
  if ! grep -q "^UUID=${uuid} " "$FSTAB"; then
    echo "UUID=${uuid} ${mount_point} xfs defaults,noatime,nofail 0 2" >>"$FSTAB"
  fi
  if ! mountpoint -q "$mount_point"; then
    mount "$mount_point"
  fi
  echo "${volume_id} (${path}) mounted at ${mount_point}"
}

for spec in "$@"; do
  IFS=: read -r volume_id device mount_point <<<"$spec"
  mount_volume "$volume_id" "$device" "$mount_point"
done
