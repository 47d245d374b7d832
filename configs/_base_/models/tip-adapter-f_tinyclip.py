# Tip-Adapter-F (tip-adapter-f_vitb16.py) on mmprompt's pretrained tiny CLIP
# (tinyclip_tower.py). The CLIP logits take the tiny CLIP's own temperature
# (logit_scale=None: 18.9), as the official 100 is OpenAI CLIP's.
_base_ = ['./tip-adapter-f_vitb16.py', './tinyclip_tower.py']

model = dict(
    backbone={{_base_.tower}},
    head=dict(text_encoder={{_base_.tower}}, logit_scale=None))
