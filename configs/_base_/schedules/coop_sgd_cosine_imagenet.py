# coop_sgd_cosine.py for ImageNet: 50 epochs (CoOp's ImageNet schedule for
# every shot count) and no validation loop (its val split is the test split).
_base_ = ['./coop_sgd_cosine.py']

max_epochs = 50
param_scheduler = [
    dict(type='ConstantWarmupLR', warmup_lr=1e-5, begin=0, end=1),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=0.,
        by_epoch=True,
        begin=1),
]
train_cfg = dict(max_epochs=max_epochs)
val_cfg = None
