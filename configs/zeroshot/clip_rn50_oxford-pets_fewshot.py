# Zero-shot CLIP ResNet-50 on all OxfordPets classes (top-1), CoOp's template:
# the zero-shot row of the instance-wise prompt table (4 shots, RN50).
_base_ = [
    '../_base_/models/clip_rn50.py',
    '../_base_/datasets/coop_oxford-pets_fewshot.py',
    '../_base_/default_runtime.py',
]

# Nothing is trained: only the test loop runs.
train_dataloader = None
val_dataloader = None
val_evaluator = None
test_cfg = dict()
