# The synthetic CoOp-format dataset of the offline demo (32x32 images), in
# the base-to-new protocol of coop_base2new.py with the small-image loaders of
# coop_procdtd_base2new.py. Create it with
#   python tools/misc/make_synthetic_dataset.py data/synthetic
_base_ = ['./coop_procdtd_base2new.py']

dataset_type = 'CoOpSynthetic'
data_root = 'data/synthetic'

train_pipeline = [
    dict(type='LoadCoOpImage'),
    dict(
        type='RandomResizedCrop',
        scale=32,
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
        scale=32,
        edge='short',
        interpolation='bicubic',
        backend='pillow'),
    dict(type='CenterCrop', crop_size=32),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=16,
    dataset=dict(
        type=dataset_type, data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    dataset=dict(
        type=dataset_type, data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader  # the base keeps split='test'
