# MaPLe cross-dataset / DG source: all 1000 ImageNet classes, 16 shots, depth
# 3, batch 4, SGD lr 0.0026, 2 epochs (1 warm-up epoch then cosine). Test its
# checkpoint with the maple-xd_vitb16_<target>.py configs.
_base_ = [
    '../_base_/models/maple-xd_vitb16.py',
    '../_base_/datasets/coop_imagenet_fewshot.py',
    '../_base_/schedules/maple_sgd_cosine.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=4)
max_epochs = 2
optim_wrapper = dict(optimizer=dict(lr=0.0026))
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)

# ImageNet's val split is its test split: no validation loop.
val_cfg = None
