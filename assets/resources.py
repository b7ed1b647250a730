"""Resource classes the assets annotate. Instances are built in ``pipelines.definitions``.

Keep path logic out of this module: ``DataPaths`` only carries the configuration Dagster shows and
hands out a :class:`rules.layout.DataLayout`, the one owner of where files live (as PUDL wraps its
``PudlPaths`` in a resource; docs/decisions.md, "one owner for paths").
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from rules.layout import DataLayout


class DataPaths(dg.ConfigurableResource):
    """Where every file of doisoat lives: a :class:`~rules.layout.DataLayout` as a Dagster resource.

    ``root``: the data folder (made absolute). ``lake_root``: a local folder or an object-storage
    URI for the lake (empty: ``<root>/lake``). ``policy_file``: the quota policy and verification
    settings (empty: ``rules/quota/quota.yaml`` beside the code).
    """

    root: str
    lake_root: str = ""
    policy_file: str = ""

    @property
    def layout(self) -> DataLayout:
        # Built on each access (cheap): a cached copy in the instance would become resource config
        # when Dagster re-creates the resource for a run.
        return DataLayout.at(self.root, lake_root=self.lake_root, policy_file=self.policy_file)

    @property
    def base(self) -> Path:
        return self.layout.root

    def __getattr__(self, name: str):
        """Every location accessor of the layout (``paths.lake(...)``, ``paths.queue_store()``, ...)."""
        if name.startswith("_"):  # pydantic's private attributes and dunders stay pydantic's
            return super().__getattr__(name)
        return getattr(self.layout, name)
