# DAPT on ImageNet, few-shot protocol: 16 shots of every class, batch 32, SGD
# lr 2, beta_v 0.01, beta_t 0.01 (official), 50 epochs, 1 warm-up epoch then
# cosine; top-1 over all classes.
_base_ = [
    '../_base_/models/dapt_vitb16.py',
    '../_base_/datasets/coop_imagenet_fewshot.py',
    '../_base_/schedules/dapt_sgd_cosine.py',
    '../_base_/dapt_runtime.py',
]

num_shots = 16
max_epochs = 50
train_dataloader = dict(dataset=dict(num_shots=num_shots))
optim_wrapper = dict(optimizer=dict(lr=2))
model = dict(
    head=dict(
        loss_intra=dict(loss_weight=0.01), loss_inter=dict(loss_weight=0.01)))
train_cfg = dict(max_epochs=max_epochs)

# ImageNet's val split is its test split: no validation loop.
val_cfg = None
