#!/bin/bash
# Freeze or thaw IRIS around an EBS snapshot taken by Data Lifecycle Manager.
#
# DLM runs this through an SSM command document, once with DLM_COMMAND set to
# pre-script (before the snapshot) and once with post-script (after it).
# Backup.General.ExternalFreeze() and ExternalThaw() end the `iris session`
# with status 5 on success and 3 on failure.
#
# pre-script freezes only the mirror's backup member: a freeze suspends the
# write daemon, and on the primary that stalls every application write. A
# member that answers that it is the primary, that it is not the backup, or
# that does not answer at all, is refused. A freeze that fails is thawed at
# once. Either way the script exits non-zero, so DLM, whose policy sets
# ExecuteOperationOnScriptFailure to false, takes no snapshot of this
# instance in that run. Exit codes follow DLM's SSM document template: 201 the
# pre-script failed, 202 the post-script failed, 206 the application is not
# ready (here: not the backup member).
#
# post-script always asks IRIS to thaw; when that fails it checks whether the
# write daemon is still suspended (IsWDSuspendedExt() ends with 5 when it is)
# and fails only then, so a post-script after a refused freeze is not an error.
#
# Runs as root; /usr/local/bin/iris runs `iris session` as the instance owner.
# Environment: DLM_COMMAND (pre-script | post-script | dry-run), IRIS_INSTANCE
# (e.g. IRIS). Every decision is one line on stdout/stderr (SSM's command
# output), in syslog (tag iris-freeze-thaw) and in FREEZE_THAW_LOG as
# "<UTC time> INFO|ERROR <text>", which the CloudWatch agent ships to the
# members' messages log group (stream <instance id>-freeze-thaw).
set -u

readonly IRIS_OK=5
readonly IRIS_FAILED=3
readonly PRE_SCRIPT_FAILED=201
readonly POST_SCRIPT_FAILED=202
readonly NOT_READY=206
# The role query must never hold up DLM's 120-second script timeout.
readonly ROLE_TIMEOUT_SECONDS="${ROLE_TIMEOUT_SECONDS:-20}"
readonly ROLE_QUERY='write "IRIS_MIRROR_ROLE|",$SYSTEM.Mirror.IsPrimary(),"|",$SYSTEM.Mirror.IsBackup(),!'
IRIS_INSTANCE="${IRIS_INSTANCE:-IRIS}"
FREEZE_THAW_LOG="${FREEZE_THAW_LOG:-/var/log/iris-freeze-thaw.log}"

# A few lines a day: the file needs no rotation. A log that cannot be written never fails the script.
record() { { printf '%s %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2" >>"$FREEZE_THAW_LOG"; } 2>/dev/null || true; }
log() { logger -t iris-freeze-thaw -- "$*" 2>/dev/null || true; record INFO "$*"; echo "$*"; }
fail() { logger -p user.err -t iris-freeze-thaw -- "$*" 2>/dev/null || true; record ERROR "$*"; echo "$*" >&2; }

# "primary", "backup", "other" (a member that is neither), or "unknown".
mirror_role() {
  local answer
  answer="$(printf '%s\nhalt\n' "$ROLE_QUERY" | timeout "$ROLE_TIMEOUT_SECONDS" iris session "$IRIS_INSTANCE" -U %SYS 2>/dev/null |
    grep -o 'IRIS_MIRROR_ROLE|[01]|[01]' | tail -n 1)"
  case "$answer" in
    'IRIS_MIRROR_ROLE|1|0') echo primary ;;
    'IRIS_MIRROR_ROLE|0|1') echo backup ;;
    'IRIS_MIRROR_ROLE|0|0') echo other ;;
    *) echo unknown ;;
  esac
}

# Runs one Backup.General class method; its status is the session's.
backup_method() {
  iris session "$IRIS_INSTANCE" -U %SYS "##Class(Backup.General).$1()" </dev/null
}

freeze() {
  local role status
  role="$(mirror_role)"
  case "$role" in
    backup) ;;
    primary)
      fail "iris ${IRIS_INSTANCE}: refusing to freeze: this member is the mirror's primary, and a freeze would stall its writes; DLM takes no snapshot of it"
      exit "$NOT_READY" ;;
    other)
      fail "iris ${IRIS_INSTANCE}: refusing to freeze: this member is not the mirror's backup; DLM takes no snapshot of it"
      exit "$NOT_READY" ;;
    *)
      fail "iris ${IRIS_INSTANCE}: refusing to freeze: IRIS did not say whether this member is the mirror's backup; DLM takes no snapshot of it"
      exit "$NOT_READY" ;;
  esac
  backup_method ExternalFreeze
  status=$?
  if [ "$status" -eq "$IRIS_OK" ]; then
    log "iris ${IRIS_INSTANCE}: frozen on the backup member for the snapshot"
    return 0
  fi
  if [ "$status" -eq "$IRIS_FAILED" ]; then
    fail "iris ${IRIS_INSTANCE}: ExternalFreeze failed (status ${status}); thawing, and DLM takes no snapshot"
  else
    fail "iris ${IRIS_INSTANCE}: ExternalFreeze returned unexpected status ${status}; thawing, and DLM takes no snapshot"
  fi
  backup_method ExternalThaw
  status=$?
  if [ "$status" -eq "$IRIS_OK" ]; then
    log "iris ${IRIS_INSTANCE}: thawed after the failed freeze"
  else
    fail "iris ${IRIS_INSTANCE}: ExternalThaw after the failed freeze returned status ${status}; check messages.log"
  fi
  exit "$PRE_SCRIPT_FAILED"
}

thaw() {
  local status
  backup_method ExternalThaw
  status=$?
  if [ "$status" -eq "$IRIS_OK" ]; then
    log "iris ${IRIS_INSTANCE}: thawed after the snapshot"
    return 0
  fi
  backup_method IsWDSuspendedExt
  if [ $? -eq "$IRIS_OK" ]; then
    fail "iris ${IRIS_INSTANCE}: ExternalThaw returned status ${status} and IRIS is still frozen: thaw it now (##Class(Backup.General).ExternalThaw())"
    exit "$POST_SCRIPT_FAILED"
  fi
  log "iris ${IRIS_INSTANCE}: nothing to thaw (ExternalThaw returned status ${status}; IRIS is not frozen)"
}

case "${DLM_COMMAND:-}" in
  pre-script) freeze ;;
  post-script) thaw ;;
  dry-run) log "dry run: would freeze IRIS instance ${IRIS_INSTANCE} if it is the mirror's backup, and thaw it after" ;;
  *) fail "unknown DLM command '${DLM_COMMAND:-}': expected pre-script, post-script or dry-run"; exit 1 ;;
esac
