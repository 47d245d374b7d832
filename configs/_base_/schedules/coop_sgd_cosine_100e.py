# coop_sgd_cosine.py over 100 epochs: CoOp's schedule for 2 and 4 shots.
_base_ = ['./coop_sgd_cosine.py']

max_epochs = 100
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
