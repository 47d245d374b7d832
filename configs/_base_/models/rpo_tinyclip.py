# RPO (rpo_vitb16.py) on mmprompt's pretrained tiny CLIP (tinyclip_tower.py).
# The tiny CLIP knows only its caption vocabulary (the DTD texture names and
# '{} texture.'), so the class text is the dataset's template instead of
# RPO's 'a photo of a {}.', whose words embed to zero there. K stays 24: the
# prompts are read-only, so their number never changes the tower's own tokens.
_base_ = ['./rpo_vitb16.py', './tinyclip_tower.py']

model = dict(
    backbone={{_base_.tower}},
    head=dict(
        text_encoder={{_base_.tower}},
        prompt_learner=dict(template='dataset')))
