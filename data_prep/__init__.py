"""Segmentation data preparation: image/mask folders as public datasets ship them, MSD Task01
BrainTumour and synthetic MRI-like phantoms, all producing the same records (see
:mod:`data_prep.records`), the stratified patient-level split and patient-level K-fold
cross-validation.

CLI: ``python -m data_prep {folder,msd_brain,synthetic} --out DIR [...]``.

``data_prep`` prepares and reads files only and imports nothing from ``nascore``; the dataset
registry that notebooks and jobs use is :mod:`nascore.seg.datasets`.
"""

from .discover import MASK_SUFFIXES, discover
from .folder import GROUP_RULES, group_rule, lgg_patient_id, load_folder
from .records import (PreparedWriter, check_out_dir, load_prepared, make_record, prepared_info,
                      to_monai, write_prepared)
from .split import kfold_assignment, patient_kfold, patient_split
from .synthetic import SYNTHETIC_LABEL, make_synthetic

__all__ = [
    "GROUP_RULES", "MASK_SUFFIXES", "SYNTHETIC_LABEL", "PreparedWriter", "check_out_dir",
    "discover", "group_rule", "kfold_assignment", "lgg_patient_id", "load_folder", "load_prepared", "make_record",
    "make_synthetic", "patient_kfold", "patient_split", "prepared_info", "to_monai", "write_prepared",
]
