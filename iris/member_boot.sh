#!/bin/bash
# Bring this host's IRIS mirror member up, at every boot, with no person logging in.
#
#   iris-member start   mount, pull, configure on the first start, start IRIS,
#                       load ^ZMIRROR, start the Web Gateway (systemd ExecStart)
#   iris-member stop    stop the Web Gateway, then IRIS, gracefully (ExecStop)
#   iris-member refresh-web-gateway
#                       rewrite the Web Gateway's CSP.ini from the CSPSystem
#                       secret and restart the gateway (after a rotation)
#   iris-member authorize-pending
#                       on the primary only: authorize the members waiting to
#                       join the mirror over TLS (a systemd timer, each minute)
#   iris-member tls-renewed
#                       after the host certificate was renewed (the hook in
#                       /etc/iris-tls/renewed.d): save IRIS's SSL/TLS
#                       configurations again so that they are activated anew
#
# Reads $CONF_DIR/member.env (written by the user data, holds no secret):
#   IRIS_INSTANCE MIRROR_SET MIRROR_NAME SYSTEM_NAME ROLE (failover|async)
#   CREATES_MIRROR (true: Member0, the mirror's first primary)
#   PEERS (the failover members this one may join, space-separated names)
#   HOST_NAME IMAGE WEB_GATEWAY_IMAGE REGISTRY AWS_REGION HEALTH_PORT MOUNTS
#   SUPERUSER_SECRET CSPSYSTEM_SECRET MIRROR_MARKER LICENSE_KEY JOIN_TIMEOUT
#
# What makes a first start different is the state directory on the database
# volume: once IRIS has joined (or created) the mirror it holds `configured`,
# and every later start (a reboot, or a new instance given the same volumes)
# starts IRIS on its durable %SYS with no merge at all: IRIS rejoins its mirror
# itself. A failover member creates the mirror only when it is the set's first
# primary (Member0) and the mirror-created marker (an SSM parameter the primary
# writes) is absent; otherwise it waits for a primary and joins it, so it never
# becomes a second primary.
set -euo pipefail

CONF_DIR="${IRIS_AWS_CONF_DIR:-/etc/iris-aws}"
RUN_DIR="${IRIS_AWS_RUN_DIR:-/run/iris-aws}"
IRIS_ROOT="${IRIS_ROOT:-/iris}"
POLL_SECONDS="${POLL_SECONDS:-15}"
START_TIMEOUT="${START_TIMEOUT:-900}"
MOUNT_VOLUMES="${MOUNT_VOLUMES:-/usr/local/sbin/iris-mount-volumes}"
AGENT_PORT="${AGENT_PORT:-2188}"
TLS_DIR="${IRIS_TLS_DIR:-/etc/iris-tls}"
readonly IRIS_UID=51773
# The merge files name the TLS files by their path inside the container.
readonly CONTAINER_TLS_DIR=/etc/iris-tls
readonly SSL_CONFIGS="%MirrorServer %MirrorClient %ECPServer %SuperServer"

# shellcheck source=/dev/null
. "$CONF_DIR/member.env"
STATE="$IRIS_ROOT/db/iris-aws"
DURABLE="$IRIS_ROOT/db/durable"
MERGE="$RUN_DIR/merge.cpf"

# Log lines go to the journal (systemd) and syslog; stdout carries only values.
log() { logger -t iris-member -- "$*" 2>/dev/null || true; echo "iris-member: $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

# --- IRIS inside its container -------------------------------------------

# Run ObjectScript lines (stdin) in %SYS; `iris session` reads until halt.
# Answers are read after a tag the code builds by concatenation ("IRIS-"_"UP"),
# so neither a prompt before it nor an echo of the input can be mistaken for it.
objectscript() { { cat; echo "halt"; } | docker exec -i iris iris session "$IRIS_INSTANCE" -U %SYS; }

iris_running() { echo 'write "IRIS-"_"UP",!' | objectscript 2>/dev/null | grep -q 'IRIS-UP'; }

# This member's status in the mirror: Primary, Backup, Connected (an async
# member), Not Initialized, Transition, ... ($SYSTEM.Mirror.GetMemberStatus).
mirror_state() {
  printf '%s\n' "write \"MIRROR-\"_\"STATE \",\$listget(\$SYSTEM.Mirror.GetMemberStatus(\"$MIRROR_NAME\"),1),!" \
    | objectscript 2>/dev/null | sed -n 's/.*MIRROR-STATE //p' | tr -d '\r'
}

wait_for_iris() {
  local waited=0
  until iris_running; do
    [ "$waited" -lt "$START_TIMEOUT" ] || fail "IRIS did not start within ${START_TIMEOUT}s: see $DURABLE/mgr/messages.log"
    sleep "$POLL_SECONDS"; waited=$((waited + POLL_SECONDS))
  done
  log "IRIS instance $IRIS_INSTANCE is up"
}

run_iris() {  # [merge file]
  local merge_env=() key_arg=()
  [ $# -eq 0 ] || merge_env=(-e "ISC_CPF_MERGE_FILE=$1")
  [ ! -f "$STATE/iris.key" ] || key_arg=(--key "$STATE/iris.key")
  docker rm -f iris >/dev/null 2>&1 || true
  docker run -d --name iris --network host --cap-add IPC_LOCK --stop-timeout 300 \
    -v "$IRIS_ROOT/db:$IRIS_ROOT/db" -v "$IRIS_ROOT/jrn1:$IRIS_ROOT/jrn1" \
    -v "$IRIS_ROOT/jrn2:$IRIS_ROOT/jrn2" -v "$IRIS_ROOT/wij:$IRIS_ROOT/wij" -v "$RUN_DIR:$RUN_DIR" \
    -v "$TLS_DIR:$CONTAINER_TLS_DIR:ro" \
    -e "ISC_DATA_DIRECTORY=$DURABLE" "${merge_env[@]}" "$IMAGE" "${key_arg[@]}" >/dev/null
}

# --- host preparation ------------------------------------------------------

prepare_host() {
  # The member's stable name (a record in the data tier's private zone) is its
  # host name, so the mirror knows it by a name that survives a new instance.
  hostnamectl set-hostname "$HOST_NAME" 2>/dev/null || hostname "$HOST_NAME"
  # shellcheck disable=SC2086 # MOUNTS is a list of volume:device:mount specs
  "$MOUNT_VOLUMES" $MOUNTS
  local dir
  for dir in db jrn1 jrn2 wij; do chown "$IRIS_UID:$IRIS_UID" "$IRIS_ROOT/$dir"; done
  install -d -m 0700 -o "$IRIS_UID" -g "$IRIS_UID" "$STATE" "$RUN_DIR"
  [ ! -f "$CONF_DIR/ZMIRROR.mac" ] || install -m 0644 -o "$IRIS_UID" -g "$IRIS_UID" "$CONF_DIR/ZMIRROR.mac" "$STATE/ZMIRROR.mac"
  install -d -m 0755 -o "$IRIS_UID" -g "$IRIS_UID" "$STATE/events"
}

# The host's certificate, key and CA chain must be there before IRIS starts:
# its SSL/TLS configurations read them (the key's group is the container's irisowner).
check_tls_files() {
  local name
  for name in ca.crt host.crt host.key; do
    [ -s "$TLS_DIR/$name" ] || fail "$TLS_DIR/$name is missing: the host certificate must be issued before IRIS starts"
  done
}

# Run by the certificate renewal (in name order, with the other hooks there).
install_renewal_hook() {
  install -d -m 0755 "$TLS_DIR/renewed.d"
  printf '#!/bin/sh\n# IRIS reads its certificate files when a configuration is activated.\nexec %s tls-renewed\n' \
    "$(readlink -f "$0")" >"$TLS_DIR/renewed.d/50-iris-member.new"
  chmod 0755 "$TLS_DIR/renewed.d/50-iris-member.new"
  mv "$TLS_DIR/renewed.d/50-iris-member.new" "$TLS_DIR/renewed.d/50-iris-member"
}

pull() {
  local image
  for image in "$@"; do
    docker image inspect "$image" >/dev/null 2>&1 && continue
    aws ecr get-login-password --region "$AWS_REGION" | docker login --username AWS --password-stdin "$REGISTRY" >/dev/null \
      || fail "cannot log in to $REGISTRY: check the ECR endpoints and the instance role"
    docker pull --quiet "$image" >/dev/null || fail "cannot pull $image"
    log "pulled $image"
  done
}

fetch_license() {
  [ -n "${LICENSE_KEY:-}" ] || return 0
  local tmp="$STATE/iris.key.new"
  case "$LICENSE_KEY" in
    secretsmanager:*)
      aws secretsmanager get-secret-value --region "$AWS_REGION" --secret-id "${LICENSE_KEY#secretsmanager:}" \
        --query SecretString --output text >"$tmp" || fail "cannot read the licence key from $LICENSE_KEY" ;;
    s3://*) aws s3 cp --quiet "$LICENSE_KEY" "$tmp" || fail "cannot copy the licence key from $LICENSE_KEY" ;;
    *) fail "LICENSE_KEY $LICENSE_KEY: expected secretsmanager:<name> or s3://<bucket>/<key>" ;;
  esac
  chown "$IRIS_UID:$IRIS_UID" "$tmp"; chmod 0600 "$tmp"; mv "$tmp" "$STATE/iris.key"
}

secret() { aws secretsmanager get-secret-value --region "$AWS_REGION" --secret-id "$1" --query SecretString --output text; }

# --- the first start: which role, then the merge ---------------------------

# 0: the marker exists; 1: it does not. Any other answer stops the boot: a
# member that cannot tell must not create a second mirror.
marker_present() {
  local err
  if err=$(aws ssm get-parameter --region "$AWS_REGION" --name "$MIRROR_MARKER" --query Parameter.Value --output text 2>&1 >/dev/null); then
    return 0
  fi
  grep -q ParameterNotFound <<<"$err" && return 1
  fail "cannot tell whether mirror $MIRROR_NAME exists (SSM parameter $MIRROR_MARKER): $err"
}

choose_role() {
  if [ "$ROLE" = async ]; then echo drasync; return; fi
  if [ "${CREATES_MIRROR:-false}" != true ]; then echo backup; return; fi
  local found=0
  marker_present || found=$?
  if [ "$found" -eq 1 ]; then echo primary; else echo backup; fi
}

agent_answers() { timeout 3 bash -c "exec 3<>/dev/tcp/$1/$AGENT_PORT" 2>/dev/null; }

# The first peer whose ISCAgent answers, waiting at most JOIN_TIMEOUT seconds.
wait_for_agent() {
  local waited=0 peer
  while :; do
    for peer in $PEERS; do
      if agent_answers "$peer"; then echo "$peer"; return 0; fi
    done
    [ "$waited" -lt "$JOIN_TIMEOUT" ] \
      || fail "no primary's ISCAgent answered on $AGENT_PORT at $PEERS within ${JOIN_TIMEOUT}s: mirror $MIRROR_NAME was not joined"
    log "waiting for the primary's ISCAgent at $PEERS:$AGENT_PORT (${waited}s of ${JOIN_TIMEOUT}s)"
    sleep "$POLL_SECONDS"; waited=$((waited + POLL_SECONDS))
  done
}

# Values replace markers inside bash: no secret is ever a command's argument.
shopt -u patsub_replacement 2>/dev/null || true
fill() {  # template marker value [marker value ...] -> stdout
  local text
  text=$(<"$1"); shift
  while [ $# -gt 1 ]; do text="${text//"$1"/$2}"; shift 2; done
  printf '%s\n' "$text"
}

# Write the merge file for $1 with the password hashes, on tmpfs, for IRIS only.
render_merge() {
  local role="$1" primary="$2" superuser cspsystem
  superuser=$(secret "$SUPERUSER_SECRET" | iris-password-hash) || fail "cannot read $SUPERUSER_SECRET"
  cspsystem=$(secret "$CSPSYSTEM_SECRET" | iris-password-hash) || fail "cannot read $CSPSYSTEM_SECRET"
  ( umask 077
    fill "$CONF_DIR/merge-$role.cpf" "{{SUPERUSER_PASSWORD_HASH}}" "$superuser" \
      "{{CSPSYSTEM_PASSWORD_HASH}}" "$cspsystem" "{{PRIMARY_HOST}}" "$primary" >"$MERGE" )
  chown "$IRIS_UID:$IRIS_UID" "$MERGE"
}

# An empty file: IRIS stops applying it, and no hash stays on the host.
forget_merge() { [ ! -e "$MERGE" ] || : >"$MERGE"; }

expected_state() {
  case "$1" in primary) echo Primary ;; backup) echo Backup ;; drasync) echo Connected ;; esac
}

configure() {
  local role primary="localhost" waited=0 state want
  role=$(choose_role)
  if [ "$role" = primary ]; then
    log "creating mirror $MIRROR_NAME as $SYSTEM_NAME (first primary)"
  else
    [ "${CREATES_MIRROR:-false}" != true ] \
      || log "mirror $MIRROR_NAME exists already (marker $MIRROR_MARKER): joining it as backup, never as a second primary"
    primary=$(wait_for_agent)
    log "joining mirror $MIRROR_NAME at $primary as $role $SYSTEM_NAME"
  fi
  trap forget_merge EXIT
  render_merge "$role" "$primary"
  run_iris "$MERGE"
  wait_for_iris
  want=$(expected_state "$role")
  until state=$(mirror_state) && [ "$state" = "$want" ]; do
    [ "$waited" -lt "$JOIN_TIMEOUT" ] \
      || fail "mirror $MIRROR_NAME: this member is not $role after ${JOIN_TIMEOUT}s (mirror status: ${state:-no answer})"
    log "waiting for mirror $MIRROR_NAME to accept $SYSTEM_NAME as $role (${waited}s of ${JOIN_TIMEOUT}s; state ${state:-none})"
    sleep "$POLL_SECONDS"; waited=$((waited + POLL_SECONDS))
    # The merge's actions skip what exists: applying it again only retries the join.
    docker exec iris iris merge "$IRIS_INSTANCE" "$MERGE" </dev/null >/dev/null 2>&1 || true
  done
  if [ "$role" = primary ]; then
    aws ssm put-parameter --region "$AWS_REGION" --name "$MIRROR_MARKER" --type String \
      --value "$SYSTEM_NAME $(date -u +%FT%TZ)" >/dev/null || fail "cannot write the mirror-created marker $MIRROR_MARKER"
  fi
  echo "$role $(date -u +%FT%TZ)" >"$STATE/configured"
  forget_merge
  trap - EXIT
  log "mirror $MIRROR_NAME: $SYSTEM_NAME is $role"
}

load_zmirror() {
  local out
  out=$(printf '%s\n' "set sc=\$system.OBJ.Load(\"$STATE/ZMIRROR.mac\",\"ck-d\")" \
    'write "ZMIRROR-"_"LOAD ",$select($system.Status.IsOK(sc):"OK",1:$system.Status.GetErrorText(sc)),!' | objectscript)
  grep -q 'ZMIRROR-LOAD OK' <<<"$out" || fail "^ZMIRROR did not load into %SYS: $(sed -n 's/.*ZMIRROR-LOAD //p' <<<"$out")"
  log "^ZMIRROR loaded into %SYS"
}

# Structured logging (messages.log and the audit events as JSON lines, for the
# CloudWatch agent): the merge enables it; its daemon is started once, here.
start_structured_logging() {
  local out
  out=$(printf '%s\n' 'if ##class(SYS.LogDmn).Status()<=0 { set sc=##class(SYS.LogDmn).Start() write "LOG"_"DMN ",$select($system.Status.IsOK(sc):"started",1:$system.Status.GetErrorText(sc)),! } else { write "LOG"_"DMN running",! }' | objectscript)
  log "structured logging: $(sed -n 's/.*LOGDMN //p' <<<"$out")"
}

# The Web Gateway on this member serves the mirror status page on HEALTH_PORT.
start_web_gateway() {
  local dir="$STATE/webgateway" password
  install -d -m 0700 "$dir"
  if [ ! -f "$dir/CSP.ini" ]; then
    password=$(secret "$CSPSYSTEM_SECRET") || fail "cannot read $CSPSYSTEM_SECRET"
    ( umask 077; fill "$CONF_DIR/CSP.ini" "{{CSPSYSTEM_PASSWORD}}" "$password" >"$dir/CSP.ini" )
  fi
  install -m 0644 "$CONF_DIR/CSP.conf" "$dir/CSP.conf"
  docker rm -f webgateway >/dev/null 2>&1 || true
  docker run -d --name webgateway --add-host host.docker.internal:host-gateway -p "$HEALTH_PORT:80" \
    -v "$dir:/webgateway-shared" -e ISC_CSP_INI_FILE=/webgateway-shared/CSP.ini \
    -e ISC_CSP_CONF_FILE=/webgateway-shared/CSP.conf "$WEB_GATEWAY_IMAGE" >/dev/null
  log "Web Gateway serves the mirror status page on port $HEALTH_PORT"
}

# With TLS, a member that asks to join waits until the primary authorizes it
# (RACS_configmirror). Only hosts with a certificate from this deployment's CA
# get that far: the mirror's %MirrorServer configuration requires one.
authorize_pending() {
  local state out
  state=$(mirror_state) || true
  if [ "$state" != Primary ]; then log "mirror $MIRROR_NAME: not the primary (${state:-no answer}), nothing to authorize"; return 0; fi
  out=$(printf '%s\n' 'set sc=##class(SYS.Mirror).AuthorizePendingMembers()' \
    'write "AUTHORIZE-"_"PENDING ",$select($system.Status.IsOK(sc):"OK",1:$system.Status.GetErrorText(sc)),!' | objectscript)
  grep -q 'AUTHORIZE-PENDING OK' <<<"$out" \
    || fail "mirror $MIRROR_NAME: pending members not authorized: $(sed -n 's/.*AUTHORIZE-PENDING //p' <<<"$out")"
  log "mirror $MIRROR_NAME: pending members authorized"
}

# After a renewal: save each SSL/TLS configuration again (Security.SSLConfigs
# Get then Modify), which activates it with the new files for new connections.
tls_renewed() {
  check_tls_files
  iris_running || { log "IRIS is not running: it reads the new certificate when it starts"; return 0; }
  local name out failed=0
  for name in $SSL_CONFIGS; do
    out=$(printf '%s\n' "kill p set sc=##class(Security.SSLConfigs).Get(\"$name\",.p) set:sc sc=##class(Security.SSLConfigs).Modify(\"$name\",.p)" \
      "write \"TLS-\"_\"RELOAD $name \",\$select(\$system.Status.IsOK(sc):\"OK\",1:\$system.Status.GetErrorText(sc)),!" | objectscript)
    if grep -q "TLS-RELOAD $name OK" <<<"$out"; then log "SSL/TLS configuration $name saved with the renewed certificate"
    else log "SSL/TLS configuration $name not saved: $(sed -n "s/.*TLS-RELOAD $name //p" <<<"$out")"; failed=1; fi
  done
  [ "$failed" -eq 0 ] || fail "not every SSL/TLS configuration took the renewed certificate"
}

start() {
  "${HOST_CERTIFICATE:-/usr/local/sbin/iris-host-certificate}" issue || fail "no TLS certificate in /etc/iris-tls: see iris-host-certificate in the journal"
  prepare_host
  check_tls_files
  install_renewal_hook
  pull "$IMAGE" "$WEB_GATEWAY_IMAGE"
  fetch_license
  if [ -f "$STATE/configured" ]; then
    log "mirror $MIRROR_NAME: starting $SYSTEM_NAME on its durable configuration ($(cut -d' ' -f1 "$STATE/configured") at first start)"
    run_iris
    wait_for_iris
  else
    configure
  fi
  # A failover member's ^ZMIRROR keeps the VIP on the primary; an async member has none.
  [ "$ROLE" != failover ] || load_zmirror
  start_structured_logging
  start_web_gateway
}

stop() {
  docker stop webgateway >/dev/null 2>&1 || true
  docker stop --time 300 iris >/dev/null 2>&1 || true
  log "IRIS instance $IRIS_INSTANCE stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  # After a CSPSystem rotation: the gateway reads the password anew; IRIS keeps running.
  refresh-web-gateway) rm -f "$STATE/webgateway/CSP.ini"; start_web_gateway ;;
  authorize-pending) authorize_pending ;;
  tls-renewed) tls_renewed ;;
  *) echo "usage: iris-member start|stop|refresh-web-gateway|authorize-pending|tls-renewed" >&2; exit 2 ;;
esac
