"""``python -m broker.cli``: the same as the ``encompass`` command."""

import sys

from broker.cli import main

sys.exit(main())
