# CoCoOp cross-dataset / DG source: all 1000 ImageNet classes, 16 shots, with
# the base-to-new settings (batch 1, SGD lr 2e-3, 10 epochs, 1 warm-up epoch
# then cosine). Test its checkpoint with the cocoop-xd_vitb16_<target>.py
# configs.
_base_ = [
    '../_base_/models/cocoop_vitb16.py',
    '../_base_/datasets/coop_imagenet_fewshot.py',
    '../_base_/schedules/cocoop_sgd_cosine.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=1)

# ImageNet's val split is its test split: no validation loop.
val_cfg = None
