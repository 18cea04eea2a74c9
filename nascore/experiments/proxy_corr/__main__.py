"""``python -m nascore.experiments.proxy_corr PARAMS.yaml --shard I K``: see :mod:`.cli`."""

from .cli import main

raise SystemExit(main())
