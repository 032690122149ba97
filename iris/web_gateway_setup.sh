#!/bin/bash
# Configure Apache and the InterSystems Web Gateway on a web server.
#
# Reads $CONF_DIR/web-gateway.env (written by the user data): CREDENTIALS_SECRET
# (a Secrets Manager ARN), AWS_REGION, GATEWAY_DIR, TLS_DIR, MEMBER_PROFILES
# ("PROFILE=ADDRESS ..." per failover member); and beside it CSP.ini.template and iris-webgateway.conf (Apache).
#
# The golden image provides Apache httpd with mod_ssl, the Web Gateway in
# $GATEWAY_DIR, the AWS CLI, curl and openssl.
#
# Idempotent: the TLS key pair is made once; CSP.ini and the Apache
# configuration are replaced, and Apache restarted, only when they change.
set -euo pipefail
# In bash 5.2 an "&" in a ${var//pattern/replacement} stands for the match.
shopt -u patsub_replacement 2>/dev/null || true

CONF_DIR="${CONF_DIR:-/etc/iris-aws}"
HTTPD_CONF_D="${HTTPD_CONF_D:-/etc/httpd/conf.d}"
HTTPD_USER="${HTTPD_USER:-apache}"
# shellcheck source=/dev/null
. "$CONF_DIR/web-gateway.env"

fail() { echo "iris-web-gateway-setup: $*" >&2; exit 1; }
log() { logger -t iris-web-gateway -- "$*" 2>/dev/null || true; echo "$*"; }

[ -f "$GATEWAY_DIR/bin/CSPa24.so" ] ||
  fail "the Web Gateway is not installed in $GATEWAY_DIR; it belongs on the web server image (app.web_ami_ids)"
command -v aws >/dev/null || fail "the AWS CLI is missing from the web server image"

# The ALB speaks HTTPS to this server. It does not verify the certificate,
# so a key pair made here serves; the hop is encrypted all the same.
mkdir -p "$TLS_DIR"
if [ ! -s "$TLS_DIR/server.key" ] || [ ! -s "$TLS_DIR/server.crt" ]; then
  (
    umask 077
    openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 3650 -subj "/CN=$(hostname)" \
      -keyout "$TLS_DIR/server.key" -out "$TLS_DIR/server.crt" >/dev/null 2>&1
  ) || fail "cannot create the TLS key pair in $TLS_DIR"
fi

# Start with the first member: the gateway is mirror-aware, and a member that
# is not primary redirects it to the one that is. (The members' status pages
# answer their VIP's health checks and the retarget function only.)
first_profile="${MEMBER_PROFILES%% *}"
default_server="${first_profile%%=*}"

password=$(aws secretsmanager get-secret-value --region "$AWS_REGION" --secret-id "$CREDENTIALS_SECRET" \
  --query SecretString --output text) || fail "cannot read the gateway's password from $CREDENTIALS_SECRET"
[ -n "$password" ] || fail "the secret $CREDENTIALS_SECRET is empty"

template=$(<"$CONF_DIR/CSP.ini.template")
ini="${template//@@WEB_GATEWAY_PASSWORD@@/$password}"
ini="${ini//@@DEFAULT_SERVER@@/$default_server}"

changed=0
# The gateway rewrites CSP.ini (it encrypts the password on first read), so
# a digest of what was written last tells whether anything changed.
digest=$(printf '%s\n' "$ini" | sha256sum | cut -d' ' -f1)
if [ ! -f "$GATEWAY_DIR/bin/CSP.ini" ] || [ "$(cat "$CONF_DIR/CSP.ini.sha256" 2>/dev/null)" != "$digest" ]; then
  (
    umask 077
    printf '%s\n' "$ini" >"$GATEWAY_DIR/bin/CSP.ini.new"
  )
  chown "$HTTPD_USER" "$GATEWAY_DIR/bin/CSP.ini.new"
  mv -f "$GATEWAY_DIR/bin/CSP.ini.new" "$GATEWAY_DIR/bin/CSP.ini"
  echo "$digest" >"$CONF_DIR/CSP.ini.sha256"
  changed=1
fi

if ! cmp -s "$CONF_DIR/iris-webgateway.conf" "$HTTPD_CONF_D/iris-webgateway.conf"; then
  install -m 0644 "$CONF_DIR/iris-webgateway.conf" "$HTTPD_CONF_D/iris-webgateway.conf"
  changed=1
fi
# mod_ssl's own virtual host would answer on 443 with a test certificate.
if [ -f "$HTTPD_CONF_D/ssl.conf" ]; then
  mv -f "$HTTPD_CONF_D/ssl.conf" "$HTTPD_CONF_D/ssl.conf.disabled-by-iris-aws"
  changed=1
fi

if [ "$changed" = 1 ] || ! systemctl is-active --quiet httpd; then
  apachectl configtest || fail "Apache refuses the configuration in $HTTPD_CONF_D"
  systemctl enable httpd
  systemctl restart httpd
  log "Web Gateway configured: ${MEMBER_PROFILES// /, }; default server ${default_server}"
else
  log "Web Gateway configuration unchanged"
fi
