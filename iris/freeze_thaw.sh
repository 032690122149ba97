#!/bin/bash
# Freeze or thaw IRIS around an EBS snapshot taken by Data Lifecycle Manager.
#
# DLM runs this through an SSM command document, once with DLM_COMMAND set to
# pre-script (before the snapshot) and once with post-script (after it).
# Backup.General.ExternalFreeze() and ExternalThaw() end the `iris session`
# with status 5 on success and 3 on failure; anything but 5 fails the script,
# and a failed pre-script makes DLM skip the snapshot.
#
# Environment: DLM_COMMAND (pre-script | post-script | dry-run),
# IRIS_INSTANCE (e.g. IRIS), IRIS_OS_USER (e.g. irisowner).
set -u

readonly FREEZE_OK=5
readonly FREEZE_FAILED=3

call_backup_method() {
  local method="$1" status
  sudo -i -u "$IRIS_OS_USER" iris session "$IRIS_INSTANCE" -U %SYS "##Class(Backup.General).${method}()" </dev/null
  status=$?
  case "$status" in
    "$FREEZE_OK") echo "iris ${IRIS_INSTANCE}: ${method} succeeded"; return 0 ;;
    "$FREEZE_FAILED") echo "iris ${IRIS_INSTANCE}: ${method} failed (status ${status})" >&2; return 1 ;;
    *) echo "iris ${IRIS_INSTANCE}: ${method} returned unexpected status ${status}" >&2; return 1 ;;
  esac
}

case "${DLM_COMMAND:-}" in
  pre-script) call_backup_method ExternalFreeze || exit 1 ;;
  post-script) call_backup_method ExternalThaw || exit 1 ;;
  dry-run) echo "dry run: would freeze and thaw IRIS instance ${IRIS_INSTANCE} as ${IRIS_OS_USER}" ;;
  *) echo "unknown DLM command '${DLM_COMMAND:-}': expected pre-script, post-script or dry-run" >&2; exit 1 ;;
esac
