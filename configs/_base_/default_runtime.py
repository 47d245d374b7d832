# base_runtime.py plus the two hooks every prompt config needs. They are
# entries of `default_hooks`, which mmengine merges key by key (and registers
# with each hook's own priority), so a leaf or --cfg-options that sets
# `custom_hooks` adds to them instead of silently dropping them:
#   custom_hooks = [dict(type='MetaGapMonitorHook', interval=10)]
_base_ = ['./base_runtime.py']

default_hooks = dict(
    # Binds each dataset's class names (and template) to the prompt head.
    class_names=dict(type='SetClassNamesHook'),
    # Reseeds the global generators per (seed, epoch, rank): exact --resume.
    # The training views themselves are seeded per sample (ViewSampler).
    epoch_seed=dict(type='EpochSeedHook'),
)
