"""Tumour segmentation with hybrid CNN + Transformer networks: datasets (one ``data``
parameter, :mod:`nascore.seg.datasets`), data loaders, the four-term objective,
Transformer knob search, training, evaluation, baselines and the notebook-04 pipeline.

Binary segmentation uses **one output channel with a sigmoid** throughout
(``DiceCELoss(sigmoid=True)``, prediction ``sigmoid(logit) > 0.5``).
"""

from .baselines import BASELINES, Baseline, build_baseline, hctnet_like_arch
from .checkpoint import load_checkpoint, save_checkpoint
from .data import make_loader, make_loaders, seg_transforms, split_records, to_dicts
from .datasets import DATASETS, load_dataset, register_dataset
from .evaluate import aggregate, evaluate, predict, write_results
from .knob_search import pruned_model, search_knobs, transfer_weights
from .knobs import TransformerKnobs, attn_block_flops
from .objective import LossWeights, SegObjective
from .pipeline import PipelineResults, SegPipelineConfig, run_pipeline, summarise
from .train import TrainConfig, Trainer, TrainResult, seeded, train_model

__all__ = [
    "BASELINES", "Baseline", "DATASETS", "LossWeights", "PipelineResults", "SegObjective",
    "SegPipelineConfig", "TrainConfig", "TrainResult", "Trainer", "TransformerKnobs", "aggregate",
    "attn_block_flops", "build_baseline", "evaluate", "load_dataset", "register_dataset",
    "hctnet_like_arch", "load_checkpoint", "make_loader", "make_loaders", "predict",
    "pruned_model", "run_pipeline", "save_checkpoint", "search_knobs", "seeded", "seg_transforms",
    "split_records", "summarise", "to_dicts", "train_model", "transfer_weights", "write_results",
]
