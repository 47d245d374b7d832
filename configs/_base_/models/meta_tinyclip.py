# The meta-trained prompts (see meta_vitb16.py) on mmprompt's pretrained
# tiny CLIP (see clip_tinyclip.py).
_base_ = ['./meta_vitb16.py']

model = dict(
    backbone=dict(
        model_name='mmprompt-tinyclip',
        pretrained='procdtd',
        model_kwargs=None),
    head=dict(
        text_encoder=dict(
            model_name='mmprompt-tinyclip',
            pretrained='procdtd',
            model_kwargs=None)))
