"""nascore: zero-shot NAS in a hybrid CNN + Transformer space for tumour segmentation."""

__version__ = "0.1.0"
