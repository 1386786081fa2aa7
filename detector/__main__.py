"""``python -m detector`` is the ``review-detector`` command."""

from detector.cli import main

raise SystemExit(main())
