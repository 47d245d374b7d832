# CoOp (4 context vectors from "a photo of a") on ImageNet, base-to-new: 16
# shots of the base classes, batch 32, SGD lr 2e-3, cosine + warm-up.
_base_ = [
    '../_base_/models/coop_vitb16.py',
    '../_base_/datasets/coop_imagenet_base2new.py',
    '../_base_/schedules/coop_sgd_cosine.py',
    '../_base_/default_runtime.py',
]

# ImageNet: 50 epochs; its val split is the 50,000-image test split, so no
# validation during training.
max_epochs = 50
param_scheduler = [
    dict(type='ConstantWarmupLR', warmup_lr=1e-5, begin=0, end=1),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0.,
         by_epoch=True, begin=1),
]
train_cfg = dict(max_epochs=max_epochs)
val_dataloader = None
val_evaluator = None
val_cfg = None
