"""``python -m pipelines …`` is the same as the ``doisoat`` command."""

from pipelines.cli import main

raise SystemExit(main())
