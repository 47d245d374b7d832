# CoOp on ImageNet, few-shot protocol: K shots of every class (16 by default;
# CoOp trains 50/100/100/200/200 epochs for 1/2/4/8/16 shots, see README).
_base_ = [
    '../_base_/models/coop_vitb16.py',
    '../_base_/datasets/coop_imagenet_fewshot.py',
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
