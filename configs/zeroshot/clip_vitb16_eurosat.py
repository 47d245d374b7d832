# Zero-shot CLIP ViT-B/16 on EuroSAT, base-to-new.
_base_ = [
    '../_base_/models/clip_vitb16.py',
    '../_base_/datasets/coop_eurosat_base2new.py',
    '../_base_/default_runtime.py',
]

# Nothing is trained: only the test loop runs.
train_dataloader = None
val_dataloader = None
val_evaluator = None
test_cfg = dict()
