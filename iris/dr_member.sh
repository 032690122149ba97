#!/bin/bash
# Report on, or promote, the async DR member this runs on.
#
# `python -m ops promote-dr` runs this through the DR region's SSM command
# document, as a person's decision. Prints one line:
#   IRIS_DR|<member type>|<mirror status>|<journal files>|<databases>
# where the last two are SYS.Mirror's DistanceFromPrimaryJournalFiles() and
# DistanceFromPrimaryDatabases() (1: nothing outstanding that this member knows
# of). "promote" runs SYS.Mirror's PromoteWithNoPartner(), which makes this
# member primary without the lost failover members (their journal data not yet
# received here is lost), and prints IRIS_DR_PROMOTED|<result> before the
# status line.
#
# Arguments: status | promote. Environment: IRIS_INSTANCE (e.g. IRIS),
# IRIS_OS_USER (e.g. irisowner).
set -u -o pipefail

readonly STATUS='write "IRIS_DR|",$SYSTEM.Mirror.GetMemberType(),"|",$SYSTEM.Mirror.GetStatus(),"|",##class(SYS.Mirror).DistanceFromPrimaryJournalFiles(),"|",##class(SYS.Mirror).DistanceFromPrimaryDatabases(),!'
readonly PROMOTE='write "IRIS_DR_PROMOTED|",##class(SYS.Mirror).PromoteWithNoPartner(),!'

in_iris() {
  printf '%s\nhalt\n' "$@" | sudo -i -u "$IRIS_OS_USER" iris session "$IRIS_INSTANCE" -U %SYS
}

case "${1:-}" in
  status) in_iris "$STATUS" | grep '^IRIS_DR|' ;;
  promote) in_iris "$PROMOTE" "$STATUS" | grep '^IRIS_DR' ;;
  *) echo "usage: $0 status|promote (got '${1:-}')" >&2; exit 2 ;;
esac
