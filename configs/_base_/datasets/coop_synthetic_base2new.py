# The synthetic CoOp-format dataset of the offline demo (32x32 images), in
# the base-to-new protocol. Create it with
#   python tools/misc/make_synthetic_dataset.py data/synthetic
dataset_type = 'CoOpSynthetic'
data_root = 'data/synthetic'
num_shots = 16
seed = 1

train_pipeline = [
    dict(type='LoadImageFromFile'),
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
    dict(type='LoadImageFromFile'),
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
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        num_shots=num_shots,
        seed=seed,
        subsample='base',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        num_shots=num_shots,
        seed=seed,
        subsample='all',
        pipeline=test_pipeline))
val_evaluator = dict(type='BaseNewAccuracy')
test_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        num_shots=num_shots,
        seed=seed,
        subsample='all',
        pipeline=test_pipeline))
test_evaluator = val_evaluator
