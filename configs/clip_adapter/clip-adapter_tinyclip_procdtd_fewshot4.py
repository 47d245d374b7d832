# CLIP-Adapter in the offline world's few-shot protocol: clip-adapter_vitb16.py
# on the tiny CLIP and the procedural mini-DTD, 4 shots of each of the 29
# classes, a 128 -> 32 -> 128 adapter with ratio 0.2, batch 32, SGD lr 2e-3,
# 200 epochs (the views served by the feature store).
#   python tools/train.py \
#       configs/clip_adapter/clip-adapter_tinyclip_procdtd_fewshot4.py
_base_ = [
    '../_base_/models/clip-adapter_vitb16.py',
    '../_base_/models/tinyclip_tower.py',
    '../_base_/datasets/coop_procdtd_fewshot4.py',
    '../_base_/schedules/clip-adapter_sgd_cosine.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone={{_base_.tower}}, head=dict(text_encoder={{_base_.tower}}))
default_hooks = dict(
    checkpoint=dict(interval=200), feature_store=dict(train_views='exact'))
