#!/bin/bash
# Report on, or promote, the async DR member this runs on.
#
# `python -m ops promote-dr` runs this through the DR region's SSM command
# document, as a person's decision. Prints:
#   IRIS_DR|<member type>|<mirror status>|<journal files>|<databases>
#   IRIS_DR_PRIMARY|<the primary failover member this member knows of, or nothing>
# where the distances are SYS.Mirror's DistanceFromPrimaryJournalFiles() and
# DistanceFromPrimaryDatabases() (1: nothing outstanding that this member knows
# of). "promote" runs SYS.Mirror's PromoteWithNoPartner(), which makes this
# member primary without the lost failover members (their journal data not yet
# received here is lost), and prints IRIS_DR_PROMOTED|<result> before the
# status lines, which then describe the member after its promotion.
#
# `iris session` reads statements from stdin until the first `halt`, so every
# statement goes before the one `halt`. A piped session prints its prompt
# before each statement's output (`%SYS>IRIS_DR|...`): the lines are taken
# from where their marker starts. The primary's name is asked in a statement
# of its own, so that a member that cannot answer it still prints its status.
#
# Arguments: status | promote. Environment: IRIS_INSTANCE (e.g. IRIS),
# IRIS_OS_USER (e.g. irisowner).
set -u -o pipefail

readonly STATUS='write "IRIS_DR|",$SYSTEM.Mirror.GetMemberType(),"|",$SYSTEM.Mirror.GetStatus(),"|",##class(SYS.Mirror).DistanceFromPrimaryJournalFiles(),"|",##class(SYS.Mirror).DistanceFromPrimaryDatabases(),!'
readonly PRIMARY='do ##class(SYS.Mirror).GetFailoverMemberStatus(.a,.b) write "IRIS_DR_PRIMARY|",$select($listget(a,3)="Primary":$listget(a,1),$listget(b,3)="Primary":$listget(b,1),1:""),!'
readonly PROMOTE='write "IRIS_DR_PROMOTED|",##class(SYS.Mirror).PromoteWithNoPartner(),!'

# The statements given, one a line, then the session's single halt.
in_iris() {
  { printf '%s\n' "$@"; echo halt; } | sudo -i -u "$IRIS_OS_USER" iris session "$IRIS_INSTANCE" -U %SYS
}

# The marked lines, without the prompt before them; fails without a status line.
marked() {
  local lines
  lines="$(grep -o 'IRIS_DR\(_PROMOTED\|_PRIMARY\)\?|.*')" || true
  printf '%s\n' "$lines" | grep -q '^IRIS_DR|' || { echo "IRIS printed no status line" >&2; return 1; }
  printf '%s\n' "$lines"
}

case "${1:-}" in
  status) in_iris "$STATUS" "$PRIMARY" | marked ;;
  promote) in_iris "$PROMOTE" "$STATUS" "$PRIMARY" | marked ;;
  *) echo "usage: $0 status|promote (got '${1:-}')" >&2; exit 2 ;;
esac
