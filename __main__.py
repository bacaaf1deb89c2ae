"""``python -m robust_gates ...`` runs the ``robust-gates`` command line."""

import sys

from robust_gates.paper_repro.cli import main

if __name__ == "__main__":
    sys.exit(main())
