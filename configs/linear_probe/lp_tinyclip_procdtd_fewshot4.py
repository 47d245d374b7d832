# Linear-probe tiny CLIP in the offline world: logistic regression on the
# frozen 128-d features of 4 shots of each of the 29 procedural mini-DTD
# classes, C searched on the 4 validation shots per class.
#   python tools/train.py configs/linear_probe/lp_tinyclip_procdtd_fewshot4.py
_base_ = [
    '../_base_/models/linear_probe_tinyclip.py',
    '../_base_/datasets/coop_procdtd_fewshot.py',
    '../_base_/linear_probe_runtime.py',
]

num_shots = 4
model = dict(head=dict(num_classes=29))
train_dataloader = dict(
    sampler=dict(shuffle=False),
    dataset=dict(num_shots=num_shots, pipeline={{_base_.test_pipeline}}))
val_dataloader = dict(dataset=dict(num_shots=num_shots))
