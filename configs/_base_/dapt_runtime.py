# default_runtime.py plus ClassPrototypeHook, which computes DAPT's class
# prototypes from the augmented training images before training (cached in the
# work dir). A `default_hooks` entry, so a config's own `custom_hooks` keep it.
_base_ = ['./default_runtime.py']

default_hooks = dict(class_prototypes=dict(type='ClassPrototypeHook'))
