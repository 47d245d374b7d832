# The runtime every mmprompt config shares. Configs inherit
# default_runtime.py, which adds the hooks of every prompt method; only
# linear_probe_runtime.py inherits this file alone (a linear head has no
# class names to bind).
default_scope = 'mmprompt'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Prompt checkpoints are kilobytes (frozen CLIP weights are not saved).
    checkpoint=dict(
        type='CheckpointHook', interval=50, save_last=True, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
    # Records the method and config in each checkpoint, and refuses to load
    # a checkpoint that lacks this model's trained weights or holds others.
    checkpoint_check=dict(type='CheckpointCheckHook'),
    # The test / val sets' features of a frozen, unprompted image encoder
    # are computed once and read from ~/.cache/mmprompt/features (or
    # $MMPROMPT_FEATURE_STORE) by every later run: identical metrics, no
    # image decoded. train_views='exact' stores the training views too
    # (identical prompts); train_views=10 encodes 10 views per image once
    # (fast, approximate). No effect on models with visual prompts.
    feature_store=dict(
        type='FeatureStoreHook', test=True, val=True, train_views=None),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # mmprompt.compat falls back to gloo when there is no CUDA device.
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
# The CoOp protocols use seeds 1, 2, 3 (set the dataset seeds to match).
randomness = dict(seed=1, deterministic=False)
