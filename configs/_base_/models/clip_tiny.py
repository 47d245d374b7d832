# Zero-shot CLIP with mmprompt's tiny open_clip config (32x32 images, 64-d
# embeddings, random weights): the offline default for tests and the demo.
_base_ = ['./clip_vitb16.py']

model = dict(
    backbone=dict(
        model_name='mmprompt-tiny', pretrained=None, model_kwargs=None),
    head=dict(
        text_encoder=dict(
            model_name='mmprompt-tiny', pretrained=None, model_kwargs=None)))
