# Domain generalisation target: MaPLe trained on ImageNet
# (maple-xd_vitb16_imagenet.py) tested on imagenet-r.
_base_ = [
    '../_base_/models/maple-xd_vitb16.py',
    '../_base_/datasets/coop_imagenet-r_test.py',
    '../_base_/default_runtime.py',
]

test_cfg = dict()
