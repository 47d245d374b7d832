# default_runtime.py plus ClassPrototypeHook, which computes DAPT's class
# prototypes from the augmented training images before training (cached in the
# work dir).
_base_ = ['./default_runtime.py']

custom_hooks = [
    dict(type='SetClassNamesHook'),
    dict(type='EpochSeedHook'),
    dict(type='ClassPrototypeHook'),
]
