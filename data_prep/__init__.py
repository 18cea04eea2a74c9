"""Segmentation data preparation: a generic image/mask folder, MSD Task01 BrainTumour and
synthetic MRI-like phantoms, all producing the same records (see :mod:`data_prep.records`).

CLI: ``python -m data_prep {folder,msd_brain,synthetic} --out DIR [...]``.
"""

from .folder import lgg_patient_id, load_folder
from .records import (PreparedWriter, load_prepared, make_record, prepared_info, to_monai,
                      write_prepared)
from .split import patient_split
from .synthetic import SYNTHETIC_LABEL, make_synthetic

__all__ = [
    "SYNTHETIC_LABEL", "PreparedWriter", "lgg_patient_id", "load_folder", "load_prepared",
    "make_record", "make_synthetic", "patient_split", "prepared_info", "to_monai",
    "write_prepared",
]
