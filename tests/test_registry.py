# Copyright (c) mmprompt contributors. All rights reserved.
"""mmprompt's registry nodes: every lookup mmengine makes finds one."""
from unittest.mock import patch

from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmpretrain import registry as mmpretrain_registry

import mmprompt.registry as registry


def test_every_mmpretrain_node_has_an_mmprompt_child():
    names = [
        name for name in dir(mmpretrain_registry)
        if name.isupper() and not name.startswith('MMENGINE_')
        and name != 'TOKENIZER'  # mmpretrain's multimodal tokenizers
    ]
    assert 'LOG_PROCESSORS' in names and 'TASK_UTILS' in names
    for name in names:
        node = getattr(registry, name, None)
        assert node is not None, f'mmprompt.registry has no {name}'
        assert node.parent is getattr(mmpretrain_registry, name), name
        assert node.scope == 'mmprompt'


def test_runner_lookups_do_not_fall_back_with_a_warning():
    """The runner builds its log processor and the dataloaders' collate
    functions from mmengine's roots; with default_scope 'mmprompt' each must
    switch to an mmprompt node instead of warning and falling back."""
    from mmengine.registry import FUNCTIONS, LOG_PROCESSORS
    logger = MMLogger.get_current_instance()
    with DefaultScope.overwrite_default_scope('mmprompt'), \
            patch.object(logger, 'log') as log:
        for root in (LOG_PROCESSORS, FUNCTIONS):
            with root.switch_scope_and_registry(None) as node:
                assert node.scope == 'mmprompt', root.name
        LOG_PROCESSORS.build(dict(type='LogProcessor'))
        assert FUNCTIONS.get('pseudo_collate') is not None
    warned = [c for c in log.call_args_list if 'Failed to search' in str(c)]
    assert not warned, warned


def test_prompt_initialisers_are_task_utils_not_models():
    import mmprompt.models  # noqa: F401 (registers them)
    for name in ('PhrasePromptInit', 'RandomPromptInit', 'SameSTPromptInit',
                 'DiffSTPromptInit'):
        assert registry.TASK_UTILS.get(name) is not None, name
        assert name not in registry.MODELS.module_dict, name
