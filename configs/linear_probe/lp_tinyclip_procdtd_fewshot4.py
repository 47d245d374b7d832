# Linear-probe tiny CLIP in the offline world: logistic regression on the
# frozen 128-d features of 4 shots of each of the 29 procedural mini-DTD
# classes, C searched on the 4 validation shots per class (the probe of
# linear_probe_rn50.py on the tiny CLIP's image tower).
#   python tools/train.py configs/linear_probe/lp_tinyclip_procdtd_fewshot4.py
_base_ = [
    '../_base_/models/linear_probe_rn50.py',
    '../_base_/models/tinyclip_tower.py',
    '../_base_/datasets/coop_procdtd_fewshot4.py',
    '../_base_/linear_probe_runtime.py',
]

model = dict(
    backbone={{_base_.tower}}, head=dict(num_classes=29, in_channels=128))
train_dataloader = dict(
    sampler=dict(shuffle=False),
    dataset=dict(pipeline={{_base_.test_pipeline}}))
