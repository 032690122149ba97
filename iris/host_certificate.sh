#!/bin/bash
# This host's TLS key and certificate from the deployment's AWS Private CA.
#
#   iris-host-certificate issue   at boot, before IRIS or the Web Gateway starts:
#                                 keeps a certificate that is valid for more than
#                                 the renewal window, else gets a new one
#   iris-host-certificate renew   from iris-host-certificate.timer: the same, and
#                                 when the files were replaced, runs the hooks in
#                                 $TLS_DIR/renewed.d/ in name order
#
# Reads $TLS_DIR/certificate.env (written by the user data, holds no secret):
#   CA_ARN CA_REGION TEMPLATE_ARN CERTIFICATE_DAYS RENEW_BEFORE_DAYS
#   KEY_GROUP (group that may read the key) DNS_NAMES (space-separated; the
#   first is the subject's common name). The host's own name (hostname -f) and
#   its primary IPv4 address are added as subject alternative names.
#
# Writes $TLS_DIR/host.key (0640 root:KEY_GROUP), host.crt (the leaf, 0644)
# and ca.crt (the CA's chain, 0644), each replaced by a rename. The key is made
# here with openssl and never leaves this host: the CA receives only the CSR.
# On any error the files in place are left as they were.
set -euo pipefail

TLS_DIR="${IRIS_TLS_DIR:-/etc/iris-tls}"
POLL_SECONDS="${POLL_SECONDS:-5}"
ISSUE_TIMEOUT="${ISSUE_TIMEOUT:-300}"
# shellcheck source=/dev/null
. "$TLS_DIR/certificate.env"

log() { logger -t iris-host-certificate -- "$*" 2>/dev/null || true; echo "iris-host-certificate: $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

# The names the certificate must carry, one "DNS:x" or "IP:x" a line.
wanted_names() {
  local name address
  { for name in $DNS_NAMES $(hostname -f 2>/dev/null || true); do echo "DNS:$name"; done
    address=$(hostname -I 2>/dev/null | awk '{print $1}')
    [ -z "$address" ] || echo "IP:$address"; } | awk '!seen[$0]++'
}

# 0: the files in place serve: they verify against the CA, the key matches,
# the names are the wanted ones and the certificate outlives the renewal window.
current_serves() {
  local crt="$TLS_DIR/host.crt" key="$TLS_DIR/host.key" ca="$TLS_DIR/ca.crt"
  [ -s "$crt" ] && [ -s "$key" ] && [ -s "$ca" ] || return 1
  openssl verify -CAfile "$ca" "$crt" >/dev/null 2>&1 || { log "$crt does not verify against $ca"; return 1; }
  [ "$(openssl x509 -in "$crt" -noout -pubkey)" = "$(openssl pkey -in "$key" -pubout)" ] \
    || { log "$crt does not belong to $key"; return 1; }
  [ "$(cat "$TLS_DIR/names" 2>/dev/null)" = "$(wanted_names)" ] || { log "the host's names changed"; return 1; }
  openssl x509 -in "$crt" -noout -checkend $((RENEW_BEFORE_DAYS * 86400)) >/dev/null \
    || { log "$crt expires within ${RENEW_BEFORE_DAYS} days ($(openssl x509 -in "$crt" -noout -enddate))"; return 1; }
}

# The AWS CLI's error line for a failed call (never a key: only the CSR is sent).
aws_pca() { aws acm-pca "$@" --region "$CA_REGION"; }

# Wait for the certificate: get-certificate answers RequestInProgressException until it is issued.
fetch_certificate() {  # certificate-arn out-file
  local started=$SECONDS err
  while :; do
    if err=$(aws_pca get-certificate --certificate-authority-arn "$CA_ARN" --certificate-arn "$1" \
        --query Certificate --output text 2>&1 >"$2"); then
      return 0
    fi
    grep -q RequestInProgressException <<<"$err" || fail "the CA did not return $1: $err"
    [ $((SECONDS - started)) -lt "$ISSUE_TIMEOUT" ] || fail "the CA did not issue $1 within ${ISSUE_TIMEOUT}s"
    sleep "$POLL_SECONDS"
  done
}

obtain() {
  local work names san cn arn err chain token
  install -d -m 0755 "$TLS_DIR" "$TLS_DIR/renewed.d"
  work=$(mktemp -d "$TLS_DIR/.new.XXXXXX")
  # shellcheck disable=SC2064 # the directory is known now
  trap "rm -rf '$work'" EXIT
  names=$(wanted_names)
  san=$(paste -sd, <<<"$names")
  cn=$(head -n1 <<<"$names" | cut -d: -f2-)
  ( umask 077
    openssl req -new -newkey rsa:2048 -nodes -sha256 -keyout "$work/host.key" -out "$work/host.csr" \
      -subj "/CN=$cn" -addext "subjectAltName=$san" >/dev/null 2>&1 ) || fail "openssl could not make a key and CSR"
  # Retried boots within an hour ask for the same certificate, not a second one.
  token=$(sha256sum "$work/host.csr" | cut -c1-32)
  arn=$(aws_pca issue-certificate --certificate-authority-arn "$CA_ARN" --csr "fileb://$work/host.csr" \
      --signing-algorithm SHA256WITHRSA --template-arn "$TEMPLATE_ARN" \
      --validity "Value=$CERTIFICATE_DAYS,Type=DAYS" --idempotency-token "$token" \
      --query CertificateArn --output text 2>"$work/err") \
    || fail "the CA $CA_ARN refused the request: $(tr '\n' ' ' <"$work/err")"
  fetch_certificate "$arn" "$work/host.crt"
  err=$(aws_pca get-certificate-authority-certificate --certificate-authority-arn "$CA_ARN" \
      --query Certificate --output text 2>&1 >"$work/ca.crt") || fail "cannot read the CA's certificate: $err"
  chain=$(aws_pca get-certificate-authority-certificate --certificate-authority-arn "$CA_ARN" \
      --query CertificateChain --output text 2>&1) || fail "cannot read the CA's chain: $chain"
  # A root CA has no chain (the CLI prints None); a subordinate's chain leads to its root.
  [ -z "$chain" ] || [ "$chain" = None ] || printf '%s\n' "$chain" >>"$work/ca.crt"
  openssl verify -CAfile "$work/ca.crt" "$work/host.crt" >/dev/null 2>&1 \
    || fail "the certificate $arn does not verify against the CA's chain"
  printf '%s\n' "$names" >"$work/names"
  chgrp "$KEY_GROUP" "$work/host.key" || fail "no group $KEY_GROUP on this host"
  chmod 0640 "$work/host.key"
  chmod 0644 "$work/host.crt" "$work/ca.crt" "$work/names"
  # Each file is replaced by a rename, the chain first; the hooks run once all are in place.
  mv -f "$work/ca.crt" "$TLS_DIR/ca.crt"
  mv -f "$work/host.key" "$TLS_DIR/host.key"
  mv -f "$work/host.crt" "$TLS_DIR/host.crt"
  mv -f "$work/names" "$TLS_DIR/names"
  log "certificate $arn for ${names//$'\n'/, } valid until $(openssl x509 -in "$TLS_DIR/host.crt" -noout -enddate | cut -d= -f2)"
}

run_hooks() {
  local hook
  for hook in "$TLS_DIR"/renewed.d/*; do
    [ -f "$hook" ] && [ -x "$hook" ] || continue
    "$hook" || log "hook $hook failed (exit $?)"
  done
}

case "${1:-}" in
  issue)
    if current_serves; then log "certificate in $TLS_DIR kept"; else obtain; fi ;;
  renew)
    if current_serves; then log "certificate in $TLS_DIR kept"; else obtain; run_hooks; fi ;;
  *) echo "usage: iris-host-certificate issue|renew" >&2; exit 2 ;;
esac
