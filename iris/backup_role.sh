#!/bin/bash
# Keep this member's snapshot target tag in step with its IRIS mirror role.
#
# The Data Lifecycle Manager policy snapshots the instances that carry
# BACKUP_TAG_KEY=BACKUP_TAG_VALUE. A systemd timer runs this at boot and every
# minute on each failover member: it asks IRIS whether this member is the
# mirror's primary or backup, and tags its own instance when it is the backup
# and untags it when IRIS says it is anything else (primary, or neither).
#
# When IRIS does not answer (stopped, starting, hung), the tag is left as it
# is and the reason logged once: the freeze script asks IRIS again before every
# snapshot and refuses unless this member answers that it is the backup, so a
# stale tag can never yield a snapshot that looks consistent; it yields a
# failed pre-script, which raises the policy's PreScriptFailed alarm.
#
# What was last applied is kept under STATE_DIR (a tmpfs, /run): the first run
# after each boot always calls EC2, later runs only when the role changes. One
# syslog line (tag iris-backup-role) per change, and one when IRIS stops or
# starts answering; nothing while the role holds.
#
# Environment: BACKUP_TAG_KEY, BACKUP_TAG_VALUE, IRIS_INSTANCE (default IRIS),
# AWS_REGION (else taken from instance metadata), STATE_DIR (default
# /run/iris-aws), IMDS_ENDPOINT (default http://169.254.169.254).
set -u -o pipefail

readonly TAG_KEY="${BACKUP_TAG_KEY:?BACKUP_TAG_KEY is not set}"
readonly TAG_VALUE="${BACKUP_TAG_VALUE:?BACKUP_TAG_VALUE is not set}"
readonly IRIS_INSTANCE="${IRIS_INSTANCE:-IRIS}"
readonly STATE_DIR="${STATE_DIR:-/run/iris-aws}"
readonly IMDS="${IMDS_ENDPOINT:-http://169.254.169.254}"
readonly ROLE_TIMEOUT_SECONDS="${ROLE_TIMEOUT_SECONDS:-20}"
readonly ROLE_QUERY='write "IRIS_MIRROR_ROLE|",$SYSTEM.Mirror.IsPrimary(),"|",$SYSTEM.Mirror.IsBackup(),!'
readonly APPLIED="$STATE_DIR/backup-tag"  # present | absent: what EC2 was last told
readonly NOTE="$STATE_DIR/backup-tag.note"  # the last reason logged for leaving the tag alone

log() { logger -t iris-backup-role -- "$*" 2>/dev/null || true; echo "$*"; }
fail() { logger -p user.err -t iris-backup-role -- "$*" 2>/dev/null || true; echo "$*" >&2; }

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

imds() {
  local token
  token="$(curl -sf --max-time 2 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$IMDS/latest/api/token")" || return 1
  curl -sf --max-time 2 -H "X-aws-ec2-metadata-token: $token" "$IMDS/latest/meta-data/$1"
}

mkdir -p "$STATE_DIR"
role="$(mirror_role)"
case "$role" in
  backup) want=present ;;
  primary | other) want=absent ;;
  *)
    reason="IRIS instance ${IRIS_INSTANCE} did not answer; the ${TAG_KEY} tag stays as it is (the freeze script refuses unless IRIS says this member is the backup)"
    if [ "$(cat "$NOTE" 2>/dev/null)" != "$reason" ]; then
      log "$reason"
      echo "$reason" >"$NOTE"
    fi
    exit 0 ;;
esac
if [ -s "$NOTE" ]; then
  log "IRIS instance ${IRIS_INSTANCE} answers again (mirror role: ${role})"
  rm -f "$NOTE"
fi
[ "$(cat "$APPLIED" 2>/dev/null)" = "$want" ] && exit 0

if ! instance_id="$(imds instance-id)" || [ -z "$instance_id" ]; then
  fail "cannot read this instance's id from the instance metadata service; ${TAG_KEY} not changed"
  exit 1
fi
region="${AWS_REGION:-}"
if [ -z "$region" ] && ! region="$(imds placement/region)"; then
  fail "cannot read the region from the instance metadata service; ${TAG_KEY} not changed"
  exit 1
fi

if [ "$want" = present ]; then
  if ! error="$(aws ec2 create-tags --region "$region" --resources "$instance_id" --tags "Key=${TAG_KEY},Value=${TAG_VALUE}" 2>&1)"; then
    fail "could not tag ${instance_id} ${TAG_KEY}=${TAG_VALUE}: ${error}"
    exit 1
  fi
  log "tagged ${instance_id} ${TAG_KEY}=${TAG_VALUE}: this member is the mirror's backup, so the snapshot policy targets it"
else
  if ! error="$(aws ec2 delete-tags --region "$region" --resources "$instance_id" --tags "Key=${TAG_KEY}" 2>&1)"; then
    fail "could not remove ${TAG_KEY} from ${instance_id}: ${error}"
    exit 1
  fi
  if [ "$role" = primary ]; then what="the mirror's primary"; else what="neither primary nor backup"; fi
  log "removed ${TAG_KEY} from ${instance_id}: this member is ${what}, so the snapshot policy skips it"
fi
echo "$want" >"$APPLIED"
