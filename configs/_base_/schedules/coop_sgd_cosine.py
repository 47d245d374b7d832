# CoOp-family optimisation with Dassl's semantics: SGD, cosine annealing
# stepped per epoch over `max_epochs`, one warm-up epoch at a constant 1e-5.
# Dassl's cosine has T_max = max_epochs and starts after the warm-up epoch,
# so epoch e >= 1 trains at lr * (1 + cos(pi * (e - 1) / max_epochs)) / 2.
# Changing max_epochs from the command line? Change T_max with it:
#   --cfg-options train_cfg.max_epochs=50 param_scheduler.1.T_max=50
lr = 0.002
max_epochs = 200
warmup_lr = 1e-5

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=lr, momentum=0.9, weight_decay=5e-4))

param_scheduler = [
    dict(type='ConstantWarmupLR', warmup_lr=warmup_lr, begin=0, end=1),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=0.,
        by_epoch=True,
        begin=1),  # `end` defaults to train_cfg.max_epochs
]

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=20)
val_cfg = dict()
test_cfg = dict()
