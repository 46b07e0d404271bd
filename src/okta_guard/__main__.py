"""``python -m okta_guard`` runs the ``okta-guard`` command line."""

from okta_guard.cli import main

raise SystemExit(main())
