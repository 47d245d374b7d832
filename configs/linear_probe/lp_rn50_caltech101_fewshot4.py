# Linear-probe CLIP ResNet-50, Caltech101, few-shot: logistic regression on
# the frozen features of 4 shots of each of the 100 classes, C searched on
# min(4, K) validation shots per class; top-1 over all classes.
#   python tools/train.py \
#       configs/linear_probe/lp_rn50_caltech101_fewshot4.py
_base_ = [
    '../_base_/models/linear_probe_rn50.py',
    '../_base_/datasets/coop_caltech101_fewshot.py',
    '../_base_/linear_probe_runtime.py',
]

num_shots = 4
model = dict(head=dict(num_classes=100))
train_dataloader = dict(
    sampler=dict(shuffle=False),
    dataset=dict(num_shots=num_shots, pipeline={{_base_.test_pipeline}}))
val_dataloader = dict(dataset=dict(num_shots=num_shots))
