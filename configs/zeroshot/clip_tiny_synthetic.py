# Offline demo: zero-shot CLIP (tiny, random weights) on the synthetic
# dataset, base-to-new. Nothing is trained:
#   python tools/test.py configs/zeroshot/clip_tiny_synthetic.py
_base_ = [
    '../_base_/models/clip_tiny.py',
    '../_base_/datasets/coop_synthetic_base2new.py',
    '../_base_/default_runtime.py',
]

# Nothing is trained: only the test loop runs.
train_dataloader = None
val_dataloader = None
val_evaluator = None
test_cfg = dict()
