# default_runtime.py plus PromptSRC's Gaussian prompt aggregation: the prompts
# of the last epoch are replaced by their N(15, 1)-weighted average over the
# 20 epochs (GPA_MEAN 15, GPA_STD 1 of the official config).
_base_ = ['./default_runtime.py']

custom_hooks = [
    dict(type='SetClassNamesHook'),
    dict(type='EpochSeedHook'),
    dict(type='GaussianPromptAggregationHook', mean=15, std=1),
]
