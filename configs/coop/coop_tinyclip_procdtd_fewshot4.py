# CoOp in the offline world's few-shot protocol (the CoOp row of the
# instance-wise table, configs/instance/README.md): coop_rn50_*_fewshot4.py
# on the tiny CLIP and the procedural mini-DTD, 4 shots of each of the 29
# classes, 16 random context vectors, batch 32, SGD lr 2e-3, 100 epochs.
_base_ = [
    '../_base_/models/coop_rn50.py',
    '../_base_/models/tinyclip_tower.py',
    '../_base_/datasets/coop_procdtd_fewshot4.py',
    '../_base_/schedules/coop_sgd_cosine_100e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone={{_base_.tower}}, head=dict(text_encoder={{_base_.tower}}))
default_hooks = dict(checkpoint=dict(interval=100))
