"""``python -m descend`` runs the ``descend`` command."""

import sys

from descend.cli import main

sys.exit(main())
