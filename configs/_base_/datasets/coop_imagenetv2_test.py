# ImageNetV2 matched-frequency (1000 classes), test only: a
# domain-generalisation target of prompts trained on ImageNet (top-1 over its
# classes, ImageNet's template). The other targets inherit this file.
_base_ = ['./coop_imagenet_test.py']

dataset_type = 'CoOpImageNetV2'
data_root = 'data/imagenetv2'

test_dataloader = dict(
    dataset=dict(
        type=dataset_type, data_root=data_root, split='test', num_shots=-1))
