# CoOp on CLIP ResNet-50, OxfordFlowers, few-shot: 4 shots of every class, 16
# random context vectors, batch 32, SGD lr 2e-3, 100 epochs (CoOp's 4-shot
# schedule), 1 warm-up epoch then cosine; top-1 over all classes.
_base_ = [
    '../_base_/models/coop_rn50.py',
    '../_base_/datasets/coop_oxford-flowers_fewshot.py',
    '../_base_/schedules/coop_sgd_cosine.py',
    '../_base_/default_runtime.py',
]

num_shots = 4
max_epochs = 100
train_dataloader = dict(dataset=dict(num_shots=num_shots))
val_dataloader = dict(dataset=dict(num_shots=num_shots))
param_scheduler = [
    dict(type='ConstantWarmupLR', warmup_lr=1e-5, begin=0, end=1),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0.,
         by_epoch=True, begin=1),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=20)
