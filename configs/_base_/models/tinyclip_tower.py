# mmprompt's tiny CLIP (64x64 images, 128-d embeddings, 4 blocks per tower),
# pretrained by tools/misc/pretrain_tinyclip.py on procedural textures and
# shipped with mmprompt as the open_clip tag 'procdtd'. A tower layer, not a
# model: a method's tiny layer (<method>_tinyclip.py) lists it next to the
# method's layer (<method>_vitb16.py) and swaps that model's two towers:
#   model = dict(
#       backbone={{_base_.tower}}, head=dict(text_encoder={{_base_.tower}}))
tower = dict(
    model_name='mmprompt-tinyclip', pretrained='procdtd', model_kwargs=None)
