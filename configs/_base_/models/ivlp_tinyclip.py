# IVLP (ivlp_vitb16.py) on mmprompt's pretrained tiny CLIP (tinyclip_tower.py):
# prompts in all 4 blocks of both towers (depth 4 instead of 12).
_base_ = ['./ivlp_vitb16.py', './tinyclip_tower.py']

model = dict(
    backbone={{_base_.tower}},
    head=dict(text_encoder={{_base_.tower}}, prompt_learner=dict(depth=4)))
