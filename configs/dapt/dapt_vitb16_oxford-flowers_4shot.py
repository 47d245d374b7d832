# dapt_vitb16_oxford-flowers_16shot.py with 4 shots per class and 100 epochs.
_base_ = ['./dapt_vitb16_oxford-flowers_16shot.py']

num_shots = 4
max_epochs = 100
train_dataloader = dict(dataset=dict(num_shots=num_shots))
val_dataloader = dict(dataset=dict(num_shots=num_shots))
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
