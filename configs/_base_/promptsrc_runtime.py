# default_runtime.py plus PromptSRC's Gaussian prompt aggregation: the prompts
# of the last epoch are replaced by their N(15, 1)-weighted average over the
# 20 epochs (GPA_MEAN 15, GPA_STD 1 of the official config). A `default_hooks`
# entry, so a config's own `custom_hooks` keep it; change it with e.g.
#   --cfg-options default_hooks.prompt_aggregation.mean=20
_base_ = ['./default_runtime.py']

default_hooks = dict(
    prompt_aggregation=dict(
        type='GaussianPromptAggregationHook', mean=15, std=1))
