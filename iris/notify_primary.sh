#!/bin/bash
# Ask the mirror failover function to point this member's mirror VIP here.
#
# Started by NotifyBecomePrimary^ZMIRROR when this member becomes primary.
# Reads /etc/iris-aws/mirror-vip.env (written at launch): MIRROR_SET, MEMBER,
# RETARGET_FUNCTION (the ARN of this mirror set's own retarget function) and
# AWS_REGION. Uses the AWS CLI with the instance role: of Lambda, that role may
# invoke this set's retarget function and no other function (it holds other,
# non-Lambda grants: SSM, the CloudWatch agent, its files, passwords and backup
# tag). The function asks this member's status page before it switches
# anything; a call for another set, or one asking to skip that check, is refused.
# Retries throttling (the function serves one call at a time) with the CLI's
# standard retry mode; logs the outcome to syslog, tag iris-retarget.
set -u

CONF="${IRIS_AWS_CONF:-/etc/iris-aws/mirror-vip.env}"
OUT="$(mktemp)"
trap 'rm -f "$OUT"' EXIT

log() { logger -t iris-retarget -- "$*" 2>/dev/null || true; echo "$*"; }

# shellcheck source=/dev/null
. "$CONF" || { log "cannot read $CONF: the mirror VIP was not retargeted"; exit 1; }

payload=$(printf '{"mirror_set":"%s","new_primary":"%s","reason":"NotifyBecomePrimary on %s"}' "$MIRROR_SET" "$MEMBER" "$(hostname)")
if ! AWS_RETRY_MODE=standard AWS_MAX_ATTEMPTS=8 aws lambda invoke \
    --region "$AWS_REGION" \
    --function-name "$RETARGET_FUNCTION" \
    --cli-binary-format raw-in-base64-out \
    --payload "$payload" \
    --query FunctionError --output text \
    "$OUT" >"$OUT.err" 2>&1; then
  log "invoking $RETARGET_FUNCTION failed: $(cat "$OUT.err")"
  rm -f "$OUT.err"
  exit 1
fi
function_error=$(cat "$OUT.err"); rm -f "$OUT.err"
if [ -n "$function_error" ] && [ "$function_error" != "None" ]; then
  log "retarget of $MIRROR_SET to $MEMBER refused: $(cat "$OUT")"
  exit 1
fi
log "retarget of $MIRROR_SET to $MEMBER: $(cat "$OUT")"
