# Copyright (c) mmprompt contributors. All rights reserved.
"""mmprompt's registries.

Every node is a child of mmpretrain's node of the same name (which is itself a
child of mmengine's), so a config with ``default_scope = 'mmprompt'`` finds our
modules first and everything of mmpretrain and mmengine after, without scope
prefixes. ``locations`` lists our package and mmpretrain's: a lookup that
climbs to a parent registry does not import the parent's modules by itself.
"""
from mmengine import registry as mmengine_registry
from mmengine.registry import Registry
from mmpretrain import registry as mmpretrain_registry

# Runners, loops and hooks that drive training and evaluation.
RUNNERS = Registry(
    'runner',
    parent=mmpretrain_registry.RUNNERS,
    scope='mmprompt',
    locations=['mmprompt.engine', 'mmpretrain.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor',
    parent=mmpretrain_registry.RUNNER_CONSTRUCTORS,
    scope='mmprompt',
    locations=['mmprompt.engine', 'mmpretrain.engine'])
LOOPS = Registry(
    'loop',
    parent=mmpretrain_registry.LOOPS,
    scope='mmprompt',
    locations=['mmprompt.engine', 'mmpretrain.engine'])
HOOKS = Registry(
    'hook',
    parent=mmpretrain_registry.HOOKS,
    scope='mmprompt',
    locations=['mmprompt.engine', 'mmpretrain.engine'])
LOG_PROCESSORS = Registry(
    'log_processor',
    parent=mmpretrain_registry.LOG_PROCESSORS,
    scope='mmprompt',
    locations=['mmprompt.engine', 'mmpretrain.engine'])
# Plain functions built from configs (a dataloader's collate_fn). mmpretrain
# has no node here, so ours hangs from mmengine's root.
FUNCTIONS = Registry(
    'function',
    parent=mmengine_registry.FUNCTIONS,
    scope='mmprompt',
    locations=['mmprompt.datasets'])

# Optimisers, their wrappers and the learning-rate schedules.
OPTIMIZERS = Registry(
    'optimizer',
    parent=mmpretrain_registry.OPTIMIZERS,
    scope='mmprompt',
    locations=['mmprompt.engine', 'mmpretrain.engine'])
OPTIM_WRAPPERS = Registry(
    'optimizer_wrapper',
    parent=mmpretrain_registry.OPTIM_WRAPPERS,
    scope='mmprompt',
    locations=['mmprompt.engine', 'mmpretrain.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=mmpretrain_registry.OPTIM_WRAPPER_CONSTRUCTORS,
    scope='mmprompt',
    locations=['mmprompt.engine', 'mmpretrain.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler',
    parent=mmpretrain_registry.PARAM_SCHEDULERS,
    scope='mmprompt',
    locations=['mmprompt.engine', 'mmpretrain.engine'])

# Datasets, samplers (e.g. episodic ones) and data transforms.
DATASETS = Registry(
    'dataset',
    parent=mmpretrain_registry.DATASETS,
    scope='mmprompt',
    locations=['mmprompt.datasets', 'mmpretrain.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler',
    parent=mmpretrain_registry.DATA_SAMPLERS,
    scope='mmprompt',
    locations=['mmprompt.datasets', 'mmpretrain.datasets'])
TRANSFORMS = Registry(
    'transform',
    parent=mmpretrain_registry.TRANSFORMS,
    scope='mmprompt',
    locations=['mmprompt.datasets', 'mmpretrain.datasets'])

# Models: encoders, prompt learners, heads, classifiers, losses.
MODELS = Registry(
    'model',
    parent=mmpretrain_registry.MODELS,
    scope='mmprompt',
    locations=['mmprompt.models', 'mmpretrain.models'])
BATCH_AUGMENTS = Registry(
    'batch augment',
    parent=mmpretrain_registry.BATCH_AUGMENTS,
    scope='mmprompt',
    locations=['mmprompt.models', 'mmpretrain.models'])
# Components models are built with that are not modules: the prompt
# initialisers (``ctx_init=dict(type='SameSTPromptInit', ...)``).
TASK_UTILS = Registry(
    'task util',
    parent=mmpretrain_registry.TASK_UTILS,
    scope='mmprompt',
    locations=['mmprompt.models', 'mmpretrain.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper',
    parent=mmpretrain_registry.MODEL_WRAPPERS,
    scope='mmprompt',
    locations=['mmprompt.models', 'mmpretrain.models'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer',
    parent=mmpretrain_registry.WEIGHT_INITIALIZERS,
    scope='mmprompt',
    locations=['mmprompt.models', 'mmpretrain.models'])

# Metrics and evaluators.
METRICS = Registry(
    'metric',
    parent=mmpretrain_registry.METRICS,
    scope='mmprompt',
    locations=['mmprompt.evaluation', 'mmpretrain.evaluation'])
EVALUATORS = Registry(
    'evaluator',
    parent=mmpretrain_registry.EVALUATORS,
    scope='mmprompt',
    locations=['mmprompt.evaluation', 'mmpretrain.evaluation'])

# Visualisation.
VISUALIZERS = Registry(
    'visualizer',
    parent=mmpretrain_registry.VISUALIZERS,
    scope='mmprompt',
    locations=['mmpretrain.visualization'])
VISBACKENDS = Registry(
    'vis_backend',
    parent=mmpretrain_registry.VISBACKENDS,
    scope='mmprompt',
    locations=['mmpretrain.visualization'])
