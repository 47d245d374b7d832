# CoOp in the offline world's few-shot protocol (the CoOp row of the
# instance-wise table, configs/instance/README.md): tiny CLIP, procedural
# mini-DTD, 4 shots of each of the 29 classes, 16 random context vectors as
# coop_rn50_*_fewshot4.py, batch 32, SGD lr 2e-3, 100 epochs.
_base_ = [
    '../_base_/models/coop_tinyclip.py',
    '../_base_/datasets/coop_procdtd_fewshot.py',
    '../_base_/schedules/coop_sgd_cosine_100e.py',
    '../_base_/default_runtime.py',
]

num_shots = 4
model = dict(head=dict(prompt_learner=dict(n_ctx=16, ctx_init=None)))
train_dataloader = dict(dataset=dict(num_shots=num_shots))
val_dataloader = dict(dataset=dict(num_shots=num_shots))
default_hooks = dict(checkpoint=dict(interval=100))
