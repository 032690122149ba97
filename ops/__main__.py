"""``python -m ops``: the operator CLI (status, failover, promote-dr, drill)."""

import sys

from ops.cli import main

sys.exit(main())
