"""``python -m devsec`` = the ``devsec`` command."""

from devsec.cli import main

raise SystemExit(main())
