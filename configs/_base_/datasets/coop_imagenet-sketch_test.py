# ImageNet-Sketch (1000 classes), test only: the domain-generalisation target
# of prompts trained on ImageNet (top-1 over its classes, ImageNet's template).
_base_ = ['./coop_imagenet_fewshot.py']

dataset_type = 'CoOpImageNetSketch'
data_root = 'data/imagenet-sketch'

train_dataloader = None
val_dataloader = None
val_evaluator = None
test_dataloader = dict(
    dataset=dict(
        type=dataset_type, data_root=data_root, split='test', num_shots=-1))
