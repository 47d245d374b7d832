# DAPT (dapt_vitb16.py) on mmprompt's pretrained tiny CLIP (tinyclip_tower.py)
# with 4 visual prompt tokens instead of 16: the tiny ViT has 1 + 64 tokens,
# and 16 prompts (a quarter of the sequence, against 16 of 197 in ViT-B/16)
# keep base accuracy below zero-shot after training (configs/dapt/README.md).
_base_ = ['./dapt_vitb16.py', './tinyclip_tower.py']

model = dict(
    backbone={{_base_.tower}},
    head=dict(
        text_encoder={{_base_.tower}}, prompt_learner=dict(n_vision_ctx=4)))
