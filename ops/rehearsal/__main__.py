"""``python -m ops.rehearsal``: the deploy rehearsal (``make rehearse``)."""

import sys

from ops.rehearsal.run import main

sys.exit(main())
