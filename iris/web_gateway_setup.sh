#!/bin/bash
# Configure Apache and the InterSystems Web Gateway on a web server.
#
# Reads $CONF_DIR/web-gateway.env (written by the user data): CREDENTIALS_SECRET
# (a Secrets Manager ARN), AWS_REGION, GATEWAY_DIR, TLS_DIR, IRIS_TLS_DIR,
# HEALTH_FILE (the page the ALB's health check asks), APP_SERVER_GROUP (an Auto Scaling group of ECP application servers, or
# empty) and MEMBER_PROFILES ("PROFILE=ADDRESS ..." per mirror member, used
# without a group); and beside it CSP.ini.template, CSP.ini.server (one
# server access profile, TLS to the superserver) and iris-webgateway.conf.
#
# With a group, the servers are the group's running instances, one profile
# each (APP_<address>), every application path balanced over them; a timer
# runs this script every minute to follow the group. Without one, the
# profiles are the mirror members and the first is the default server.
#
# The golden image provides Apache httpd with mod_ssl, the Web Gateway in
# $GATEWAY_DIR, the AWS CLI, curl and openssl.
#
# Idempotent: the TLS key pair is made once; CSP.ini and the Apache
# configuration are replaced, and Apache restarted, only when they change.
# HEALTH_FILE is written only after Apache serves a configuration that names
# at least one server, so the ALB sends no user to a server before that.
set -euo pipefail
# In bash 5.2 an "&" in a ${var//pattern/replacement} stands for the match.
shopt -u patsub_replacement 2>/dev/null || true

CONF_DIR="${CONF_DIR:-/etc/iris-aws}"
HTTPD_CONF_D="${HTTPD_CONF_D:-/etc/httpd/conf.d}"
HTTPD_USER="${HTTPD_USER:-apache}"
# shellcheck source=/dev/null
. "$CONF_DIR/web-gateway.env"

RUN_DIR="${RUN_DIR:-/run}"
fail() { echo "iris-web-gateway-setup: $*" >&2; exit 1; }
log() { logger -t iris-web-gateway -- "$*" 2>/dev/null || true; echo "$*"; }

[ -f "$GATEWAY_DIR/bin/CSPa24.so" ] ||
  fail "the Web Gateway is not installed in $GATEWAY_DIR; it belongs on the web server image (app.web_ami_ids)"
command -v aws >/dev/null || fail "the AWS CLI is missing from the web server image"
# The boot run and the timer's never write at once.
exec 9>"$RUN_DIR/iris-web-gateway-setup.lock"
flock 9
"${HOST_CERTIFICATE:-/usr/local/sbin/iris-host-certificate}" issue || fail "no TLS certificate in /etc/iris-tls: see iris-host-certificate in the journal"

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

# The superserver connections present the host's certificate and verify the peer against the CA.
for file in host.crt host.key ca.crt; do
  [ -s "$IRIS_TLS_DIR/$file" ] || fail "$IRIS_TLS_DIR/$file is missing: the host certificate must be issued first"
done

if [ -n "${APP_SERVER_GROUP:-}" ]; then
  addresses=$(aws ec2 describe-instances --region "$AWS_REGION" \
    --filters "Name=tag:aws:autoscaling:groupName,Values=$APP_SERVER_GROUP" "Name=instance-state-name,Values=running" \
    --query 'Reservations[].Instances[].PrivateIpAddress' --output text) ||
    fail "cannot list the application servers of $APP_SERVER_GROUP"
  profiles=""
  for address in $(tr -s '\t ' '\n\n' <<<"$addresses" | grep -E '^[0-9]+(\.[0-9]+){3}$' | sort -t. -k1,1n -k2,2n -k3,3n -k4,4n); do
    profiles="$profiles APP_${address//./_}=$address"
  done
  profiles="${profiles# }"
  if [ -z "$profiles" ]; then
    # Keep what was written last: an empty answer must not take every server away.
    log "no application server of $APP_SERVER_GROUP is running yet; the timer looks again"
    exit 0
  fi
else
  # Start with the first member: the gateway is mirror-aware, and a member that
  # is not primary redirects it to the one that is. (The members' status pages
  # answer their VIP's health checks and the retarget function only.)
  profiles="$MEMBER_PROFILES"
fi
first_profile="${profiles%% *}"
default_server="${first_profile%%=*}"

password=$(aws secretsmanager get-secret-value --region "$AWS_REGION" --secret-id "$CREDENTIALS_SECRET" \
  --query SecretString --output text) || fail "cannot read the gateway's password from $CREDENTIALS_SECRET"
[ -n "$password" ] || fail "the secret $CREDENTIALS_SECRET is empty"

server_template=$(<"$CONF_DIR/CSP.ini.server")
index="" servers="" alternatives="" n=0
for profile in $profiles; do
  name="${profile%%=*}" address="${profile#*=}"
  index+="${name}=Enabled"$'\n'
  section="${server_template//@@NAME@@/$name}"
  servers+="${section//@@ADDRESS@@/$address}"$'\n\n'
  alternatives+="Alternative_Server_${n}=1~~~~~~${name}"$'\n'
  n=$((n + 1))
done
template=$(<"$CONF_DIR/CSP.ini.template")
ini="${template//@@SERVER_INDEX@@/${index%$'\n'}}"
ini="${ini//@@SERVERS@@/${servers%$'\n'}}"
ini="${ini//@@ALTERNATIVE_SERVERS@@/${alternatives%$'\n'}}"
ini="${ini//@@WEB_GATEWAY_PASSWORD@@/$password}"
ini="${ini//@@DEFAULT_SERVER@@/$default_server}"

changed=0 ini_changed=0
# The gateway rewrites CSP.ini (it encrypts the password on first read), so
# a digest of what was written last tells whether anything changed.
digest=$(printf '%s\n' "$ini" | sha256sum | cut -d' ' -f1)
if [ ! -f "$GATEWAY_DIR/bin/CSP.ini" ] || [ "$(cat "$CONF_DIR/CSP.ini.sha256" 2>/dev/null)" != "$digest" ]; then
  ini_changed=1
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

restart=0
if [ "$changed" = 1 ] || ! systemctl is-active --quiet httpd; then
  restart=1
fi
if [ "$ini_changed" = 1 ]; then
  written="$ini"
  if [ "$restart" = 0 ]; then
    # Only the servers changed (the timer's case): [SYSTEM] RELOAD=1 has the
    # gateway reload its configuration without a restart of Apache.
    written="${ini/\[SYSTEM\]/[SYSTEM]$'\n'RELOAD=1}"
  fi
  (
    umask 077
    printf '%s\n' "$written" >"$GATEWAY_DIR/bin/CSP.ini.new"
  )
  chown "$HTTPD_USER" "$GATEWAY_DIR/bin/CSP.ini.new"
  mv -f "$GATEWAY_DIR/bin/CSP.ini.new" "$GATEWAY_DIR/bin/CSP.ini"
  echo "$digest" >"$CONF_DIR/CSP.ini.sha256"
fi

if [ "$restart" = 1 ]; then
  apachectl configtest || fail "Apache refuses the configuration in $HTTPD_CONF_D"
  systemctl enable httpd
  systemctl restart httpd
  log "Web Gateway configured: ${profiles// /, }; default server ${default_server}"
elif [ "$ini_changed" = 1 ]; then
  log "Web Gateway servers now ${profiles// /, }: configuration reloaded"
else
  log "Web Gateway configuration unchanged"
fi

# The ALB's health check: Apache answers, with the gateway loaded and its servers named.
mkdir -p "$(dirname "$HEALTH_FILE")"
printf 'OK: the Web Gateway serves from %s server(s)\n' "$n" >"$HEALTH_FILE.new"
chmod 0644 "$HEALTH_FILE.new"
mv -f "$HEALTH_FILE.new" "$HEALTH_FILE"
