#!/bin/bash
# `iris` on the host: the same command inside the member's IRIS container, as
# its owner (irisowner, who OS-level authentication lets into %SYS), with stdin
# passed through and the exit status kept, so that host scripts can run
# `iris session IRIS -U %SYS ...` as root or as irisowner.
exec docker exec -i iris iris "$@"
