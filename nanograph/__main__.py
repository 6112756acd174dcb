"""``python -m nanograph``: the same command line as the ``nanograph`` script."""

from nanograph.cli import main

raise SystemExit(main())
