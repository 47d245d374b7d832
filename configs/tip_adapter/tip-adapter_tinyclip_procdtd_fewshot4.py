# Tip-Adapter (training-free) in the offline world's few-shot protocol: the
# tiny CLIP and the procedural mini-DTD, 4 shots of each of the 29 classes.
# The cache holds the 116 training images (10 augmented views averaged per
# key); alpha / beta searched on the 4 validation shots per class with the
# official DTD settings (init alpha 2, beta 1, search scale (13, 13), steps
# (200, 20)). No gradient step: TrainingFreeLoop runs the hooks once.
#   python tools/train.py \
#       configs/tip_adapter/tip-adapter_tinyclip_procdtd_fewshot4.py
_base_ = [
    '../_base_/models/tip-adapter_vitb16.py',
    '../_base_/models/tinyclip_tower.py',
    '../_base_/datasets/coop_procdtd_fewshot4.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone={{_base_.tower}},
    head=dict(
        text_encoder={{_base_.tower}},
        alpha=2.0,
        beta=1.0,
        # The CLIP logits' scale: the tiny CLIP's own temperature (18.9); the
        # official 100 is OpenAI CLIP's.
        logit_scale=None))
train_cfg = dict(type='TrainingFreeLoop')
val_cfg = dict()
test_cfg = dict()
# Required by the Runner next to train_cfg but never stepped.
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.))
default_hooks = dict(
    checkpoint=dict(save_param_scheduler=False),
    tip_adapter=dict(
        type='TipAdapterHook',
        augment_epoch=10,
        search_scale=(13, 13),
        search_step=(200, 20)))
