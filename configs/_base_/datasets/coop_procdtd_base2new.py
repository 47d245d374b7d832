# The procedural mini-DTD (64x64 textures named after DTD categories, drawn
# in the "downstream" style) in the base-to-new protocol of
# coop_base2new.py. Create it with
#   python tools/dataset_converters/make_procedural_dtd.py data/procdtd
# Crops keep at least half of the image (the protocol's 0.08 would zoom a
# 64x64 texture out of its class); no dataloader workers (a 2-core CPU).
_base_ = ['./coop_base2new.py']

dataset_type = 'CoOpProceduralDTD'
data_root = 'data/procdtd'

train_pipeline = [
    dict(type='LoadCoOpImage'),
    dict(
        type='RandomResizedCrop',
        scale=64,
        crop_ratio_range=(0.5, 1.0),
        interpolation='bicubic',
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadCoOpImage'),
    dict(
        type='ResizeEdge',
        scale=64,
        edge='short',
        interpolation='bicubic',
        backend='pillow'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type=dataset_type, data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type=dataset_type, data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader  # the base keeps split='test'
