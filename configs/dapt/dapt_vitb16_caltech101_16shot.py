# DAPT on Caltech101, few-shot protocol: 16 shots of every class, batch 32, SGD
# lr 0.2, beta_v 10, beta_t 0.01 (official), 200 epochs, 1 warm-up epoch then
# cosine; top-1 over all classes.
_base_ = [
    '../_base_/models/dapt_vitb16.py',
    '../_base_/datasets/coop_caltech101_fewshot.py',
    '../_base_/schedules/dapt_sgd_cosine.py',
    '../_base_/dapt_runtime.py',
]

num_shots = 16
train_dataloader = dict(dataset=dict(num_shots=num_shots))
val_dataloader = dict(dataset=dict(num_shots=num_shots))
optim_wrapper = dict(optimizer=dict(lr=0.2))
model = dict(
    head=dict(
        loss_intra=dict(loss_weight=10.0), loss_inter=dict(loss_weight=0.01)))
