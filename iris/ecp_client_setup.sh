#!/bin/bash
# Prepare an ECP client (an application or print server): its cache on the
# instance store, its TLS configurations, its connection to the mirror and
# its remote databases; then IRIS runs with them.
#
# Reads $CONF_DIR/ecp-client.env (written by the user data): IRIS_INSTANCE,
# IRIS_OS_USER, CACHE_MOUNT, ECP_SERVER (the [ECPServers] name), TLS_DIR,
# CSPSYSTEM_SECRET (the data tier's CSPSystem password, which the Web Gateway
# signs in with; its hash, never the password, goes into the merge) and AWS_REGION;
# and beside it ecp-client.cpf, a configuration merge file: the [ECPServers]
# entry (a failover member as a mirror connection, TLS on), %ECPClient and
# %SuperServer, the remote databases and their namespaces.
#
# The merge is applied to a running instance with `iris merge`, or, when
# IRIS is down, at its start (ISC_CPF_MERGE_FILE): `iris merge` configures
# running instances only. The host's certificate files must exist first.
#
# Runs at every boot (iris-ecp-client.service): an instance store is blank
# again after a stop and start, so it is formatted and mounted each time it
# holds no file system. Idempotent: merge actions that find their object in
# place change nothing. The golden image provides IRIS (the `iris` command)
# installed as an ECP client, not started at boot by the image itself.
set -euo pipefail

CONF_DIR="${CONF_DIR:-/etc/iris-aws}"
RUN_DIR="${RUN_DIR:-/run/iris-aws}"
DEV_ROOT="${DEV_ROOT:-/dev}"
# shellcheck source=/dev/null
. "$CONF_DIR/ecp-client.env"

fail() { echo "iris-ecp-client-setup: $*" >&2; exit 1; }
log() { logger -t iris-ecp-client -- "$*" 2>/dev/null || true; echo "$*"; }

"${HOST_CERTIFICATE:-/usr/local/sbin/iris-host-certificate}" issue || fail "no TLS certificate in /etc/iris-tls: see iris-host-certificate in the journal"
command -v iris >/dev/null || fail "IRIS is not installed on the ECP client image (app.ecp_ami_ids)"
command -v aws >/dev/null || fail "the AWS CLI is missing from the ECP client image"
# In bash 5.2 an "&" in a ${var//pattern/replacement} stands for the match.
shopt -u patsub_replacement 2>/dev/null || true
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

# The TLS configurations name these files; IRIS refuses a configuration whose files are missing.
for file in host.crt host.key ca.crt; do
  [ -s "$TLS_DIR/$file" ] || fail "$TLS_DIR/$file is missing: the host certificate must be issued before IRIS starts"
done

# The merge file with the CSPSystem hash, on tmpfs, readable by root only, gone when the script ends.
mkdir -p "$RUN_DIR"
merge_file="$RUN_DIR/ecp-client.cpf"
trap 'rm -f "$merge_file"' EXIT
cspsystem=$(aws secretsmanager get-secret-value --region "$AWS_REGION" --secret-id "$CSPSYSTEM_SECRET" \
  --query SecretString --output text | iris-password-hash) || fail "cannot read the CSPSystem password from $CSPSYSTEM_SECRET"
template=$(<"$CONF_DIR/ecp-client.cpf")
(
  umask 077
  printf '%s\n' "${template//@@CSPSYSTEM_HASH@@/$cspsystem}" >"$merge_file"
)
# `iris qlist` prints instance^directory^version^state^...; the state reads "running, since ..." or "down, ...".
listing=$(iris qlist "$IRIS_INSTANCE") || fail "there is no IRIS instance $IRIS_INSTANCE on this image"
case "$(cut -d'^' -f4 <<<"$listing")" in
  running*)
    iris merge "$IRIS_INSTANCE" "$merge_file" || fail "iris merge of $merge_file into the running $IRIS_INSTANCE failed"
    log "merged $merge_file into the running instance $IRIS_INSTANCE"
    ;;
  *)
    ISC_CPF_MERGE_FILE="$merge_file" iris start "$IRIS_INSTANCE" ||
      fail "IRIS $IRIS_INSTANCE did not start with the merge file $merge_file"
    log "started $IRIS_INSTANCE with $merge_file"
    ;;
esac

# Read back what the servers rely on: the ECP server entry and its TLS configuration.
check=$(printf '%s\n' \
  "write \"ECP-\"_\"CHECK \",##class(Config.ECPServers).Exists(\"$ECP_SERVER\"),##class(Security.SSLConfigs).Exists(\"%ECPClient\"),!" \
  halt | iris session "$IRIS_INSTANCE" -U %SYS) || fail "cannot open an IRIS session on $IRIS_INSTANCE"
grep -q "ECP-CHECK 11" <<<"$check" ||
  fail "IRIS $IRIS_INSTANCE holds no ECP server $ECP_SERVER with %ECPClient after the merge of $CONF_DIR/ecp-client.cpf"
log "ECP data server $ECP_SERVER configured with TLS from $CONF_DIR/ecp-client.cpf"
