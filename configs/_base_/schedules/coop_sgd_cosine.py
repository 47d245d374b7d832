# CoOp-family optimisation with Dassl's semantics: SGD, cosine annealing
# stepped per epoch over `max_epochs`, one warm-up epoch at a constant 1e-5.
# Overriding max_epochs? Override param_scheduler's T_max/end with it.
lr = 0.002
max_epochs = 200
warmup_lr = 1e-5

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=lr, momentum=0.9, weight_decay=5e-4))

param_scheduler = [
    dict(
        type='ConstantLR',
        factor=warmup_lr / lr,
        by_epoch=True,
        begin=0,
        end=1),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=0.,
        by_epoch=True,
        begin=1,
        end=max_epochs),
]

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=20)
val_cfg = dict()
test_cfg = dict()
