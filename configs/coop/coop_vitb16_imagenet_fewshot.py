# CoOp on ImageNet, few-shot protocol: K shots of every class (16 by default;
# CoOp trains ImageNet 50 epochs for every K). Also the source of the
# cross-dataset and domain-generalisation protocols.
_base_ = [
    '../_base_/models/coop_vitb16.py',
    '../_base_/datasets/coop_imagenet_fewshot.py',
    '../_base_/schedules/coop_sgd_cosine_imagenet.py',
    '../_base_/default_runtime.py',
]
