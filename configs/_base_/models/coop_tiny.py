# CoOp on mmprompt's tiny open_clip config (random weights).
_base_ = ['./coop_vitb16.py']

model = dict(
    backbone=dict(
        model_name='mmprompt-tiny', pretrained=None, model_kwargs=None),
    head=dict(
        text_encoder=dict(
            model_name='mmprompt-tiny', pretrained=None, model_kwargs=None)))
