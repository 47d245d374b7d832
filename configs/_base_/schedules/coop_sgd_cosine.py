# CoOp-family optimisation with Dassl's semantics: SGD, cosine annealing
# stepped per epoch over `max_epochs`, one warm-up epoch at a constant 1e-5.
# Dassl's cosine has T_max = max_epochs and starts after the warm-up epoch,
# so epoch e >= 1 trains at lr * (1 + cos(pi * (e - 1) / max_epochs)) / 2.
# DasslCosineLR takes T_max from max_epochs, so a leaf sets only
# train_cfg.max_epochs, and so does the command line:
#   --cfg-options train_cfg.max_epochs=50
lr = 0.002
max_epochs = 200
warmup_lr = 1e-5

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=lr, momentum=0.9, weight_decay=5e-4))

param_scheduler = [
    dict(type='ConstantWarmupLR', warmup_lr=warmup_lr, begin=0, end=1),
    # T_max and `end` follow train_cfg.max_epochs (see DasslCosineLR)
    dict(type='DasslCosineLR', eta_min=0., by_epoch=True, begin=1),
]

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=20)
val_cfg = dict()
test_cfg = dict()
