# CoOp on CLIP ResNet-50, Caltech101, few-shot: 4 shots of every class, 16
# random context vectors, batch 32, SGD lr 2e-3, 100 epochs (CoOp's 4-shot
# schedule), 1 warm-up epoch then cosine; top-1 over all classes.
_base_ = [
    '../_base_/models/coop_rn50.py',
    '../_base_/datasets/coop_caltech101_fewshot.py',
    '../_base_/schedules/coop_sgd_cosine_100e.py',
    '../_base_/default_runtime.py',
]

num_shots = 4
train_dataloader = dict(dataset=dict(num_shots=num_shots))
val_dataloader = dict(dataset=dict(num_shots=num_shots))
