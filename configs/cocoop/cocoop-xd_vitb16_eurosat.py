# Cross-dataset target: CoCoOp trained on ImageNet
# (cocoop-xd_vitb16_imagenet.py) tested on all EuroSAT classes (top-1).
_base_ = [
    '../_base_/models/cocoop_vitb16.py',
    '../_base_/datasets/coop_eurosat_fewshot.py',
    '../_base_/default_runtime.py',
]

# Nothing is trained or validated here: only the test loop runs.
train_dataloader = None
val_dataloader = None
val_evaluator = None
test_cfg = dict()
