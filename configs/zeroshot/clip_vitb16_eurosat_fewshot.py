# Zero-shot CLIP ViT-B/16 on EuroSAT: top-1 over all classes on the test split
# (the zero-shot point of the few-shot and cross-dataset tables).
_base_ = [
    '../_base_/models/clip_vitb16.py',
    '../_base_/datasets/coop_eurosat_fewshot.py',
    '../_base_/default_runtime.py',
]

# Nothing is trained: only the test loop runs.
train_dataloader = None
val_dataloader = None
val_evaluator = None
test_cfg = dict()
