# Zero-shot CLIP (mmprompt's pretrained tiny CLIP) on the procedural
# mini-DTD, base-to-new, template '{} texture.'. Nothing is trained:
#   python tools/test.py configs/zeroshot/clip_tinyclip_procdtd.py
_base_ = [
    '../_base_/models/clip_tinyclip.py',
    '../_base_/datasets/coop_procdtd_base2new.py',
    '../_base_/default_runtime.py',
]

train_dataloader = None
val_dataloader = None
val_evaluator = None
test_cfg = dict()
