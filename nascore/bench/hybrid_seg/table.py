"""The benchmark table: one row per trained (architecture, seed, budget), appended as rows finish.

The CSV's first line is ``# provenance: {...}`` (the recipe and the job settings, git SHA and
time when the table was started); every row also carries ``prov_git_sha`` and
``prov_timestamp`` (when it finished) and the ``recipe_id`` it was trained with. Each append
rewrites the whole file to a temporary file and renames it into place
(:func:`nascore.provenance.atomic_write_text`), so a kill at any moment leaves either the old or the new
table, never a half row; a resumed job skips every task whose key is already in the table.
Read it with ``pandas.read_csv(path, comment="#")``.
"""

from __future__ import annotations

import hashlib
import io as _io
import json
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

import pandas as pd

from ... import provenance

#: Columns of a row, in file order (see ``reports/benchmarks/README.md`` for their meaning).
ROW_COLUMNS = (
    "arch_id", "role", "flops_bin", "attn_group", "params", "flops", "n_attn", "attn_share",
    "deep_attn_share", "seed", "budget", "resolution", "batch_size", "data", "synthetic",
    "n_train", "n_val", "val_dice_tumor", "val_dice_all", "val_fp_rate_empty", "val_n_tumor",
    "val_n_empty", "final_train_loss", "train_time_s", "wall_time_s", "device", "pid",
    "recipe_id", "prov_git_sha", "prov_timestamp", "arch_json",
)
KEY = ("arch_id", "seed", "budget", "recipe_id")


def recipe_id(recipe: Mapping[str, Any]) -> str:
    """A short stable hash of a recipe dict (device and thread count excluded: they do not
    change what is trained, only how fast)."""
    d = {k: v for k, v in recipe.items() if k not in ("device", "threads")}
    return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]


def row_key(row: Mapping[str, Any]) -> Tuple[str, int, int, str]:
    return (str(row["arch_id"]), int(row["seed"]), int(row["budget"]), str(row["recipe_id"]))


class BenchTable:
    """An append-only CSV of benchmark rows (see the module docstring).

    Args:
        path: the CSV file (created on the first append).
        header: provenance config written in the first line when the file is created.

    Raises:
        ValueError: when an existing file lacks a column of :data:`ROW_COLUMNS` (naming it).
    """

    def __init__(self, path, header: Optional[Mapping[str, Any]] = None) -> None:
        self.path = Path(path)
        self.header = dict(header or {})
        self._rows: List[Dict[str, Any]] = []
        self._first_line: Optional[str] = None
        if self.path.is_file():
            text = self.path.read_text()
            if text.startswith("#"):
                self._first_line = text.split("\n", 1)[0]
            df = pd.read_csv(_io.StringIO(text), comment=None, skiprows=1 if self._first_line else 0,
                             keep_default_na=True)
            missing = [c for c in ROW_COLUMNS if c not in df.columns]
            if missing:
                raise ValueError(f"{self.path}: not a benchmark table, missing columns {missing}")
            self._rows = df.to_dict("records")

    def __len__(self) -> int:
        return len(self._rows)

    def keys(self) -> set:
        return {row_key(r) for r in self._rows}

    def has(self, row: Mapping[str, Any]) -> bool:
        return row_key(row) in self.keys()

    def header_config(self) -> Dict[str, Any]:
        """The ``config`` of the provenance line (the job and recipe the table was started
        with), or ``{}`` for a table not yet written."""
        if not self._first_line:
            return {}
        return json.loads(self._first_line.split(":", 1)[1]).get("config", {})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self._rows, columns=list(ROW_COLUMNS))

    def append(self, row: Mapping[str, Any]) -> bool:
        """Adds ``row`` and rewrites the file atomically; returns False (and writes nothing)
        when its key is already present.

        Raises:
            ValueError: naming the missing columns of ``row``.
        """
        missing = [c for c in ROW_COLUMNS if c not in row]
        if missing:
            raise ValueError(f"row for {row.get('arch_id')!r} lacks columns {missing}")
        if self.has(row):
            return False
        self._rows.append({c: row[c] for c in ROW_COLUMNS})
        if self._first_line is None:
            prov = json.dumps(provenance.provenance(self.header), sort_keys=True,
                              default=provenance._json_default)
            self._first_line = f"# provenance: {prov}"
        provenance.atomic_write_text(self.path,
                                     self._first_line + "\n" + self.frame().to_csv(index=False))
        return True


def read_table(path) -> pd.DataFrame:
    """The table at ``path`` as a DataFrame (the provenance line skipped)."""
    return BenchTable(path).frame()
