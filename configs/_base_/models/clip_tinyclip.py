# Zero-shot CLIP with mmprompt's tiny CLIP (64x64 images, 128-d embeddings),
# pretrained by tools/misc/pretrain_tinyclip.py on procedural textures and
# shipped with mmprompt as the open_clip tag 'procdtd'.
_base_ = ['./clip_vitb16.py']

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
