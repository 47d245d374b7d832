# Domain generalisation target: MaPLe trained on ImageNet
# (maple-xd_vitb16_imagenet.py) tested on imagenetv2.
_base_ = [
    '../_base_/models/maple-xd_vitb16.py',
    '../_base_/datasets/coop_imagenetv2_test.py',
    '../_base_/default_runtime.py',
]

test_cfg = dict()
