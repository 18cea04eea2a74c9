"""Ground truth for proxy validation: NB201 cells, AutoFormer ViTs, benchmark tables, image batches.

Submodules: :mod:`.nb201` (arch strings, cell network builder), :mod:`.tables` (loaders),
:mod:`.vit` (AutoFormer-Ti ViT builder), :mod:`.images` (real minibatches).
Import the submodules directly; this package imports nothing heavy.
"""
