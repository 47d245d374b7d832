# Copyright (c) mmprompt contributors. All rights reserved.
"""The command-line boundary of mmprompt's tools.

``tools/train.py`` and ``tools/test.py`` run their work through
:func:`run_tool`. A user mistake (an :class:`~mmprompt.errors.MMPromptError`,
or one of the library errors :func:`explain` recognises) is printed as one
short paragraph, ``error: <what is wrong, where, how to fix it>``, and the
tool exits with status :data:`EXIT_USER_ERROR` (2, as for a wrong command
line); ``--debug`` re-raises it with the full traceback. Any other exception
is a bug and keeps its traceback.

The checks here run before anything is built, so that a wrong path or option
fails in well under a second instead of after the model is built and the
datasets are scanned:

- :func:`load_config`: the config file exists and parses (also the
  ``_base_`` files it inherits).
- :func:`check_cfg_options`: every ``--cfg-options`` key names a field the
  config has, or an argument the constructor of the enclosing ``type``
  takes. mmengine's ``merge_from_dict`` silently adds any other key, so
  ``train_cfg.max_epoch=5`` would be ignored. :func:`merge_cfg_options`
  parses, checks and merges them (``default_hooks.NAME=None`` turns a hook
  off).
- :func:`check_checkpoint`, :func:`check_out_file`, :func:`check_work_dir`,
  :func:`check_data_roots`, :func:`check_resumable`: the files and folders
  the run reads and writes.
- :class:`WorkDirLock` / :func:`lock_work_dir`: one training per work
  directory at a time.

Note:
    ``import mmprompt.cli`` imports torch and mmengine (``import mmprompt``
    applies its compatibility shims). Tools parse their command line
    first, so that ``--help`` answers at once.
"""
import ast
import contextlib
import datetime
import difflib
import errno
import fcntl
import inspect
import json
import logging
import os
import os.path as osp
import re
import shlex
import socket
import sys
from typing import (Any, Callable, Dict, Iterator, List, Optional, Sequence,
                    Tuple)

from mmengine.logging import print_log

from .errors import (CheckpointError, ConfigError, MMPromptError,
                     PathNotFoundError, WorkDirLockedError)

__all__ = [
    'EXIT_USER_ERROR', 'LOCK_FILE', 'run_tool', 'format_error', 'explain',
    'explain_errors', 'strip_build_prefixes', 'load_config',
    'parse_cfg_options', 'check_cfg_options', 'merge_cfg_options',
    'check_checkpoint', 'check_out_file', 'check_work_dir', 'check_data_roots',
    'check_resumable', 'WorkDirLock', 'lock_work_dir', 'launcher_rank',
    'check_launcher'
]

#: Exit status of a tool stopped by a user mistake (argparse uses it too).
EXIT_USER_ERROR = 2
#: Name of the lock file :class:`WorkDirLock` keeps in a work directory.
LOCK_FILE = '.mmprompt.lock'

# ``build_from_cfg`` of some mmengine versions re-raises an error of a
# constructor as ``type(e)(f'class `{name}` in {module path}.py: {e}')``.
_BUILD_PREFIX = re.compile(r'class `(?P<name>[\w.]+)` in (?P<where>\S+?)'
                           r'\.py: ')
_UNEXPECTED_KWARG = re.compile(
    r"^(?:(?P<qual>[\w.<>]+)\.)?__init__\(\) got an unexpected keyword "
    r"argument '(?P<arg>\w+)'$")
_MISSING_ARGS = re.compile(
    r'^(?:(?P<qual>[\w.<>]+)\.)?__init__\(\) missing \d+ required '
    r'(?:positional |keyword-only )?arguments?: (?P<args>.+)$')
_NOT_IN_REGISTRY = re.compile(
    r'^(?P<type>\S+) is not in the (?P<registry>\S+) registry\.')
_DID_YOU_MEAN = re.compile(r'Did you mean (?P<names>.+)\?\s*$')

# Set on an error explain_errors() found to be no user mistake.
_JUDGED_A_BUG = '_mmprompt_judged_a_bug'

# The config file suffixes mmengine's Config.fromfile reads.
_CONFIG_SUFFIXES = ('.py', '.yml', '.yaml', '.json')

# The default hooks mmengine's Runner.register_default_hooks adds itself
# (a None entry removes one of them; any other None fails its assertion).
_RUNNER_DEFAULT_HOOKS = ('runtime_info', 'timer', 'sampler_seed', 'logger',
                         'param_scheduler', 'checkpoint')

# Keys mmengine's config merging treats specially.
_SPECIAL_KEYS = ('_delete_', '_scope_')


# ---------------------------------------------------------------------------
# The boundary
# ---------------------------------------------------------------------------
def strip_build_prefixes(message: str) -> Tuple[str, List[str]]:
    """Remove the ``class `X` in path.py: `` prefixes of a build error.

    Args:
        message (str): The error message, possibly prefixed once per nesting
            level of the config (and quoted, for a ``KeyError`` re-raised by
            an outer build).

    Returns:
        tuple[str, list[str]]: The bare message and the class names of the
        prefixes, outermost first.
    """
    classes = []
    while True:
        match = _BUILD_PREFIX.match(message)
        if match:
            classes.append(match.group('name'))
            message = message[match.end():]
            continue
        # ``str(KeyError(msg))`` is ``repr(msg)``: an outer re-raise quotes.
        if len(message) >= 2 and message[0] == message[-1] and \
                message[0] in '\'"':
            try:
                unquoted = ast.literal_eval(message)
            except (ValueError, SyntaxError):
                break
            if isinstance(unquoted, str) and unquoted != message:
                message = unquoted
                continue
        break
    return message, classes


def _message(exc: BaseException) -> str:
    """The text of an exception (a ``KeyError``'s argument, not its repr)."""
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(
            exc.args[0], str):
        return exc.args[0]
    return str(exc)


def format_error(exc: BaseException) -> str:
    """Format a user error as the one paragraph a tool prints.

    Args:
        exc (BaseException): The error.

    Returns:
        str: ``'error: <message>'`` on one line, with mmengine's build
        prefixes removed and runs of whitespace collapsed.
    """
    message, _ = strip_build_prefixes(_message(exc))
    message = ' '.join(message.split()) or type(exc).__name__
    return f'error: {message}'


def explain(exc: BaseException,
            cfg: Optional[Any] = None) -> Optional[MMPromptError]:
    """Turn a library error that comes from a user mistake into a typed one.

    Recognised:

    - :class:`~mmprompt.errors.MMPromptError`: returned as it is.
    - ``KeyError: 'X is not in the mmprompt::model registry ...'`` (an
      unknown ``type``): a :class:`~mmprompt.errors.ConfigError` naming the
      type, the config field that sets it and the closest names registered
      anywhere in the registry tree (mmengine, mmpretrain, mmprompt).
    - ``TypeError: X.__init__() got an unexpected keyword argument 'a'``
      (or ``missing required argument``) raised while building a config
      ``type``: a :class:`~mmprompt.errors.ConfigError` naming the config
      field, the argument and the closest argument the constructor takes.
      Only when the config (``cfg``) holds a dict of that type with that
      key or, without ``cfg``, when mmengine's ``class `X` in path.py:``
      prefix shows that the arguments came from a config; otherwise the
      error is a bug in code, not in the config.
    - ``ValueError: end should be larger than begin, but got begin=1,
      end=1`` (mmengine's param schedulers) and ``ValueError: batch_size
      should be a positive integer value, but got batch_size=-1`` (torch's
      ``BatchSampler``): a :class:`~mmprompt.errors.ConfigError` naming the
      config setting to change.

    Args:
        exc (BaseException): The error.
        cfg (Config | dict, optional): The config the failing run was built
            from, to find where the mistake is. Defaults to None.

    Returns:
        MMPromptError | None: The user error, or None for anything else
        (a bug, to be raised with its traceback).
    """
    if isinstance(exc, MMPromptError):
        return exc
    if isinstance(exc, KeyError):
        return _explain_unknown_type(exc, cfg)
    if isinstance(exc, TypeError):
        return _explain_bad_arguments(exc, cfg)
    if isinstance(exc, ValueError):
        return _explain_bad_value(exc)
    return None


@contextlib.contextmanager
def explain_errors(cfg: Optional[Any] = None) -> Iterator[None]:
    """Re-raise recognised library errors as typed ones (see :func:`explain`).

    Args:
        cfg (Config | dict, optional): The config the code in the block
            builds from. Defaults to None.

    Raises:
        MMPromptError: For an error :func:`explain` recognises (chained to
            the original).
    """
    try:
        yield
    except Exception as exc:
        explained = explain(exc, cfg)
        if explained is None:
            # Judged with the config: a bug; run_tool must not guess again.
            setattr(exc, _JUDGED_A_BUG, True)
            raise
        if explained is exc:
            raise
        raise explained from exc


def run_tool(main: Callable[..., Any],
             *args: Any,
             debug: bool = False,
             **kwargs: Any) -> Any:
    """Run a tool's main function behind the user-error boundary.

    Args:
        main (Callable): The tool's work; called as ``main(*args, **kwargs)``.
        *args: Positional arguments for ``main``.
        debug (bool): Re-raise user errors with their traceback instead of
            printing them briefly (the tools' ``--debug``). Defaults to
            False.
        **kwargs: Keyword arguments for ``main``.

    Returns:
        Any: What ``main`` returns.

    Raises:
        SystemExit: With status :data:`EXIT_USER_ERROR` after printing
            ``error: ...`` to stderr, for a user error.
    """
    if debug:
        return main(*args, **kwargs)
    try:
        return main(*args, **kwargs)
    except Exception as exc:
        explained = (None
                     if getattr(exc, _JUDGED_A_BUG, False) else explain(exc))
        if explained is None:
            raise  # a bug: keep the traceback
        sys.stdout.flush()
        sys.stderr.write(format_error(explained) + '\n')
        sys.stderr.flush()
        raise SystemExit(EXIT_USER_ERROR) from None


# ---------------------------------------------------------------------------
# Registry lookups
# ---------------------------------------------------------------------------
def _registries() -> list:
    """mmprompt's registries (children of mmpretrain's and mmengine's)."""
    from mmengine.registry import Registry

    from . import registry
    return [
        value for value in vars(registry).values()
        if isinstance(value, Registry)
    ]


def _registered_names() -> set:
    """Every name registered in the registry trees mmprompt's belong to
    (mmengine's roots and all their children: mmpretrain, mmprompt, ...)."""
    roots = {}
    for node in _registries():
        while node.parent is not None:
            node = node.parent
        roots[id(node)] = node
    names, todo = set(), list(roots.values())
    while todo:
        node = todo.pop()
        names.update(node.module_dict)
        todo.extend(node.children.values())
    return names


# The registries a config field is most likely built from, by the first
# component of its path; the others are searched after them.
_REGISTRY_HINTS = (
    ('model', ('MODELS', )),
    ('data_preprocessor', ('MODELS', )),
    ('_dataloader', ('DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS')),
    ('optim_wrapper', ('OPTIM_WRAPPERS', 'OPTIMIZERS',
                       'OPTIM_WRAPPER_CONSTRUCTORS')),
    ('param_scheduler', ('PARAM_SCHEDULERS', )),
    ('hooks', ('HOOKS', )),
    ('_cfg', ('LOOPS', )),
    ('_evaluator', ('METRICS', 'EVALUATORS')),
    ('visualizer', ('VISUALIZERS', 'VISBACKENDS')),
    ('runner_type', ('RUNNERS', )),
)


def _lookup_type(obj_type: Any, path: str = '') -> Optional[Callable]:
    """The class (or function) a config ``type`` names, if it can be found.

    Args:
        obj_type (str | type | Callable): The ``type`` of a config dict.
        path (str): Dotted config path of the dict, to search the registry it
            is most likely built from first. Defaults to ''.

    Returns:
        Callable | None: The registered object, or None.
    """
    if not isinstance(obj_type, str):
        return obj_type if callable(obj_type) else None
    from . import registry
    head = path.split('.', 1)[0]
    preferred = []
    for suffix, names in _REGISTRY_HINTS:
        if head.endswith(suffix):
            preferred += [getattr(registry, name) for name in names]
    ordered = preferred + [r for r in _registries() if r not in preferred]
    # What is registered already (mmengine's own classes are) needs no
    # import; ``Registry.get`` imports the registry's locations first.
    if '.' not in obj_type:
        for reg in ordered:
            node = reg
            while node is not None:
                if obj_type in node.module_dict:
                    return node.module_dict[obj_type]
                node = node.parent
    for reg in ordered:
        try:
            found = reg.get(obj_type)
        except Exception:  # a broken location or scope: not ours to judge
            found = None
        if found is not None:
            return found
    return None


def _signature_names(obj: Callable) -> Tuple[Optional[List[str]], bool]:
    """The keyword names a constructor takes.

    Args:
        obj (Callable): A class or function.

    Returns:
        tuple[list[str] | None, bool]: The named parameters (None when the
        signature cannot be read) and whether it takes ``**kwargs``.
    """
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return None, False
    names = [
        p.name for p in params
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    var_kw = any(p.kind == p.VAR_KEYWORD for p in params)
    return names, var_kw


def _mro_argument_names(cls: Callable) -> List[str]:
    """Named constructor arguments of a class and of its bases."""
    names: List[str] = []
    classes = cls.__mro__ if inspect.isclass(cls) else (cls, )
    for klass in classes:
        if klass is object:
            continue
        init = vars(klass).get('__init__') if inspect.isclass(klass) \
            else klass
        if init is None:
            continue
        found, _ = _signature_names(init)
        for name in found or []:
            if name not in ('self', 'args', 'kwargs') and name not in names:
                names.append(name)
    return names


def _quote_names(names: Sequence[str]) -> str:
    """``'a'``, ``'a' or 'b'``, ``'a', 'b' or 'c'``."""
    quoted = [repr(n) for n in names]
    if len(quoted) <= 1:
        return ''.join(quoted)
    return ', '.join(quoted[:-1]) + ' or ' + quoted[-1]


def _did_you_mean(word: str, candidates: Sequence[str]) -> str:
    """`` Did you mean 'x'?`` for the closest candidates, or ''.

    Up to three candidates with a ``difflib`` similarity of at least 0.6
    and within 0.1 of the best one.
    """
    scored = []
    for candidate in dict.fromkeys(
            c for c in candidates if isinstance(c, str)):
        ratio = difflib.SequenceMatcher(None, word, candidate).ratio()
        if ratio >= 0.6:
            scored.append((ratio, candidate))
    if not scored:
        return ''
    scored.sort(key=lambda item: -item[0])
    best = scored[0][0]
    close = [name for ratio, name in scored[:3] if ratio >= best - 0.1]
    return f' Did you mean {_quote_names(close)}?'


def _names_text(names: Sequence[str], limit: int = 10) -> str:
    """``a, b, c`` (and ``, ... (N more)`` past ``limit`` names)."""
    shown = ', '.join(names[:limit])
    if len(names) > limit:
        shown += f', ... ({len(names) - limit} more)'
    return shown


def _type_name(obj_type: Any) -> str:
    """How to name a config ``type`` in a message."""
    return obj_type if isinstance(obj_type, str) else getattr(
        obj_type, '__name__', repr(obj_type))


# ---------------------------------------------------------------------------
# Explaining library errors
# ---------------------------------------------------------------------------
def _walk_typed_dicts(node: Any, path: str = '') -> Iterator[Tuple[str, dict]]:
    """Every dict with a ``type`` in a config, with its dotted path."""
    if isinstance(node, dict):
        if 'type' in node:
            yield path, node
        for key, value in node.items():
            yield from _walk_typed_dicts(value,
                                         f'{path}.{key}' if path else str(key))
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from _walk_typed_dicts(
                value, f'{path}.{index}' if path else str(index))


def _as_dict(cfg: Any) -> Any:
    """A config as nested dicts (a ``Config`` or a dict)."""
    if cfg is None:
        return None
    to_dict = getattr(cfg, 'to_dict', None)
    if callable(to_dict) and not isinstance(cfg, dict):
        return to_dict()
    return cfg


def _paths_text(paths: Sequence[str]) -> str:
    """```a.b`` (and 2 more places)`` for a list of config paths."""
    shown = ', '.join(f'`{p}`' for p in paths[:2])
    if len(paths) > 2:
        shown += f' and {len(paths) - 2} more'
    return shown


def _explain_unknown_type(exc: KeyError,
                          cfg: Optional[Any]) -> Optional[ConfigError]:
    """A ``KeyError`` of an unknown registry type as a ConfigError."""
    message, _ = strip_build_prefixes(_message(exc))
    match = _NOT_IN_REGISTRY.match(message)
    if match is None:
        return None
    obj_type, registry = match.group('type'), match.group('registry')
    suggestion = _DID_YOU_MEAN.search(message)
    if suggestion:
        hint = f' Did you mean {suggestion.group("names")}?'
    else:
        hint = _did_you_mean(obj_type, sorted(_registered_names()))
    paths = [
        f'{path}.type' if path else 'type'
        for path, node in _walk_typed_dicts(_as_dict(cfg))
        if node.get('type') == obj_type
    ]
    where = f' (set in {_paths_text(paths)})' if paths else ''
    return ConfigError(
        f"unknown type '{obj_type}'{where}: no class of that name is "
        f'registered in the {registry} registry or its parents.{hint} Fix '
        'the type in the config (or --cfg-options); for a class of your '
        'own, register it and list its module in `custom_imports`.')


def _explain_bad_arguments(exc: TypeError,
                           cfg: Optional[Any]) -> Optional[ConfigError]:
    """A constructor's ``TypeError`` on config arguments as a ConfigError."""
    message, prefixed = strip_build_prefixes(str(exc))
    unexpected = _UNEXPECTED_KWARG.match(message)
    missing = _MISSING_ARGS.match(message)
    if unexpected is None and missing is None:
        return None
    match = unexpected or missing
    qual = match.group('qual')
    owner = qual.split('.')[-1] if qual else None
    if unexpected:
        names = [unexpected.group('arg')]
    else:
        names = re.findall(r"'(\w+)'", missing.group('args'))
        if not names:
            return None

    def matches(cls: Callable) -> bool:
        if owner is None:
            return True
        classes = cls.__mro__ if inspect.isclass(cls) else (cls, )
        return any(getattr(k, '__name__', None) == owner for k in classes)

    # Where in the config: a dict of a type whose constructor is the one
    # that failed, and that has the unknown key (or lacks the missing one).
    places: List[Tuple[str, Any, Callable]] = []
    tree = _as_dict(cfg)
    if tree is not None:
        for path, node in _walk_typed_dicts(tree):
            has = [n in node for n in names]
            if (unexpected and not all(has)) or (missing and any(has)):
                continue
            cls = _lookup_type(node['type'], path)
            if cls is not None and matches(cls):
                places.append((path, node['type'], cls))
        if not places:
            return None  # not from the config: a bug in code
        cls = places[0][2]
        type_name = _type_name(places[0][1])
    else:
        # Without the config, only mmengine's build prefix shows that the
        # arguments came from a config (some versions add it).
        if not prefixed:
            return None
        type_name = prefixed[-1]
        cls = _lookup_type(type_name)
        if cls is None:
            return None
    accepted = _mro_argument_names(cls)
    where = (f'`{places[0][0]}` ({type_name})'
             if places and places[0][0] else type_name)
    if len(places) > 1:
        where += f' (also {_paths_text([p for p, _, _ in places[1:]])})'
    takes = (f' {type_name} takes: {_names_text(accepted)}.'
             if accepted else '')
    if unexpected:
        bad = names[0]
        return ConfigError(
            f"{where} has an argument '{bad}' that {type_name} does not "
            f'take.{_did_you_mean(bad, accepted)} Fix or remove it in the '
            f'config (or --cfg-options).{takes}')
    listed = _quote_names(names).replace(' or ', ' and ')
    return ConfigError(
        f'{where} lacks the required argument{"s" if len(names) > 1 else ""}'
        f' {listed} of {type_name}: set it in the config (or with '
        f'--cfg-options).')


_EMPTY_SCHEDULE = re.compile(
    r'^end should be larger than begin, but got begin=(?P<begin>\S+), '
    r'end=(?P<end>\S+)$')
_BAD_BATCH_SIZE = re.compile(
    r'^batch_size should be a positive integer value, but got '
    r'batch_size=(?P<value>.+)$')


def _explain_bad_value(exc: ValueError) -> Optional[ConfigError]:
    """A library ``ValueError`` on a config value as a ConfigError."""
    message, _ = strip_build_prefixes(str(exc))
    match = _EMPTY_SCHEDULE.match(message)
    if match:
        begin, end = match.group('begin'), match.group('end')
        return ConfigError(
            f'a `param_scheduler` entry is empty with these epochs: it would '
            f'run from begin={begin} to end={end} (an unset `end` is '
            '`train_cfg.max_epochs`; counted in iterations with '
            'convert_to_iter_based). The configs warm up from epoch 0 to 1 '
            'and start the cosine at begin=1, so train at least 2 epochs: '
            '--cfg-options train_cfg.max_epochs=2 (or more); or change the '
            '`begin`/`end` of the schedulers (e.g. param_scheduler.1.begin).')
    match = _BAD_BATCH_SIZE.match(message)
    if match:
        return ConfigError(
            f'batch_size must be an int >= 1, but a dataloader got '
            f'batch_size={match.group("value")}. Fix it in the config or '
            'with --cfg-options, e.g. train_dataloader.batch_size=32 (or '
            'val_/test_dataloader.batch_size).')
    return None


# ---------------------------------------------------------------------------
# The config and --cfg-options
# ---------------------------------------------------------------------------
def _base_files(path: str) -> List[str]:
    """The local ``_base_`` files a config file names (best effort)."""
    try:
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return []
    bases: List[str] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '_base_'
                for t in stmt.targets):
            try:
                value = ast.literal_eval(stmt.value)
            except ValueError:
                continue
            bases = [value] if isinstance(value, str) else list(value)
    folder = osp.dirname(path)
    return [
        osp.normpath(osp.join(folder, base)) for base in bases
        if isinstance(base, str) and '::' not in base
    ]


def _config_suffix_ok(path: str) -> bool:
    """Whether mmengine's ``Config.fromfile`` reads files of this suffix."""
    return osp.splitext(path)[1].lower() in _CONFIG_SUFFIXES


def _find_config_mistake(
        path: str,
        child: Optional[str] = None,
        seen: Optional[set] = None) -> Optional[MMPromptError]:
    """Find the missing or unparsable file in a config's ``_base_`` tree."""
    seen = set() if seen is None else seen
    if path in seen:
        return None
    seen.add(path)
    if osp.isdir(path):
        of = '' if child is None else f', a _base_ of {child},'
        return PathNotFoundError(
            f'config {path}{of} is a folder, not a config file. Give a '
            'config file (e.g. configs/coop/coop_tiny_synthetic.py).')
    if osp.isfile(path) and not _config_suffix_ok(path):
        of = '' if child is None else f', a _base_ of {child},'
        return ConfigError(
            f'config file {path}{of} has an unsupported suffix: config '
            'files must be .py, .yml, .yaml or .json.')
    if not osp.isfile(path):
        if child is None:
            return PathNotFoundError(
                f'config file {path} does not exist. Check the path (configs '
                'live under configs/<method>/).')
        return PathNotFoundError(
            f'config file {path}, a _base_ of {child}, does not exist. Fix '
            f'the _base_ list of {child}.')
    if not path.endswith('.py'):
        return None  # yaml/json: mmengine's own message says what is wrong
    try:
        with open(path, encoding='utf-8') as f:
            compile(f.read(), path, 'exec')
    except SyntaxError as err:
        return ConfigError(
            f'config file {path} has a syntax error on line {err.lineno}: '
            f'{err.msg}. Fix the file.')
    for base in _base_files(path):
        mistake = _find_config_mistake(base, path, seen)
        if mistake is not None:
            return mistake
    return None


def load_config(path: str):
    """Load a config file, reporting a missing or broken file briefly.

    The config's ``default_hooks.checkpoint_check`` (when it has one and
    names no config) is given the file's name, which it records in the
    checkpoints it writes and names when a checkpoint does not fit.

    Args:
        path (str): The config file.

    Returns:
        Config: The loaded config.

    Raises:
        PathNotFoundError: If the file, or a ``_base_`` file it inherits,
            does not exist, or the path is a folder.
        ConfigError: If one of them cannot be parsed or run (a syntax error,
            an undefined name, a failed import), or the file is no
            .py/.yml/.yaml/.json file.
    """
    from mmengine.config import Config
    if not osp.isfile(path) or not _config_suffix_ok(path):
        raise _find_config_mistake(path) or PathNotFoundError(
            f'config file {path} does not exist.')
    try:
        cfg = Config.fromfile(path)
    except (SyntaxError, OSError, NameError, ImportError) as err:
        mistake = _find_config_mistake(osp.abspath(path))
        if mistake is not None:
            raise mistake from err
        raise ConfigError(
            f'config file {path} (or a file it inherits) cannot be loaded: '
            f'{type(err).__name__}: {err}. Fix the config.') from err
    check = (cfg.get('default_hooks') or {}).get('checkpoint_check')
    if isinstance(check, dict) and check.get('config') is None:
        check['config'] = osp.basename(path)  # recorded in checkpoints
    return cfg


def _parse_scalar(value: str) -> Any:
    """An int, float, bool or None as ``DictAction`` reads it, else the text.

    Unlike ``DictAction``, spaces inside the text are kept (only those
    around it go), so ``ctx_init=a photo of a`` stays ``'a photo of a'``.
    """
    from mmengine.config import DictAction
    return DictAction._parse_int_float_bool(value.strip())


def _split_items(text: str, option: str) -> List[str]:
    """Split at the commas outside brackets (``'a,(b,c)'`` -> 2 items)."""
    items, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char in '([':
            depth += 1
        elif char in ')]':
            depth -= 1
            if depth < 0:
                break
        elif char == ',' and depth == 0:
            items.append(text[start:index])
            start = index + 1
    if depth != 0:
        raise ConfigError(
            f"--cfg-options {option}: the brackets in '{text}' do not "
            "match. Write a list as key=\"[a,b]\" or a tuple as "
            'key="(1,2)", and quote the whole option.')
    items.append(text[start:])
    return items


def _parse_value(value: str, option: str) -> Any:
    """Parse one ``--cfg-options`` value like ``DictAction._parse_iterable``.

    ``[a,b]`` is a list, ``(a,b)`` a tuple, ``a,b`` (no brackets) a list,
    nested brackets nest; each item and a single value is an int, float,
    bool, None or text (see :func:`_parse_scalar`). Spaces are removed only
    around items and brackets, never inside a text.

    Args:
        value (str): The text after ``=``.
        option (str): The whole ``key=value``, for the message.

    Returns:
        Any: The value.

    Raises:
        ConfigError: If the brackets do not match.
    """
    value = value.strip().strip('\'"').strip()
    is_tuple = False
    if value.startswith('(') and value.endswith(')'):
        is_tuple, value = True, value[1:-1]
    elif value.startswith('[') and value.endswith(']'):
        value = value[1:-1]
    elif ',' not in value:
        return _parse_scalar(value)
    values = [] if not value.strip() else [
        _parse_value(item, option) for item in _split_items(value, option)
    ]
    return tuple(values) if is_tuple else values


def parse_cfg_options(pairs: Optional[Sequence[str]]) -> Dict[str, Any]:
    """Parse ``key=value`` strings the way mmengine's ``DictAction`` does.

    The tools collect ``--cfg-options`` as plain strings (to parse their
    command line without importing mmengine) and convert them here. As
    ``DictAction``: ``1`` -> 1, ``0.5`` -> 0.5, ``true`` -> True, ``None``
    -> None, ``[a,b]`` -> ['a', 'b'], ``(1,2)`` -> (1, 2), ``a,b`` ->
    ['a', 'b']. Unlike it, spaces inside a text are kept:
    ``"ctx_init=a photo of a"`` gives ``'a photo of a'`` (``DictAction``
    gives ``'aphotoofa'``); spaces around list items are dropped.

    Args:
        pairs (Sequence[str], optional): ``'key=value'`` strings.

    Returns:
        dict: Keys to values.

    Raises:
        ConfigError: If a string has no ``=``, or its brackets do not match.
    """
    options: Dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition('=')
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"--cfg-options takes KEY=VALUE pairs, got '{pair}'. Write "
                'e.g. train_cfg.max_epochs=5 (quote values with spaces: '
                '"model.head.prompt_learner.ctx_init=a photo of a").')
        options[key] = _parse_value(value, pair)
    return options


def _implicit_arguments(path: str, node: dict,
                        root: dict) -> Optional[List[str]]:
    """The arguments of the constructor an untyped config dict feeds.

    mmengine builds some dicts without a ``type`` (``train_cfg`` becomes an
    ``EpochBasedTrainLoop``, a ``*_dataloader`` a ``DataLoader``, the top
    level the ``Runner``).

    Args:
        path (str): Dotted path of the dict ('' for the top level).
        node (dict): The dict.
        root (dict): The whole config.

    Returns:
        list[str] | None: The names it may hold, or None if it feeds no
        known constructor.
    """
    from mmengine.runner import (EpochBasedTrainLoop, IterBasedTrainLoop,
                                 LogProcessor, Runner, TestLoop, ValLoop)
    if path == '':
        names = _mro_argument_names(Runner) + ['runner_type']
        runner = _lookup_type(root.get('runner_type'), 'runner_type')
        if runner is not None:
            names += _mro_argument_names(runner)
        return names
    if path == 'train_cfg':
        loop = (
            EpochBasedTrainLoop
            if node.get('by_epoch', True) else IterBasedTrainLoop)
        return _mro_argument_names(loop) + ['by_epoch']
    if path == 'val_cfg':
        return _mro_argument_names(ValLoop)
    if path == 'test_cfg':
        return _mro_argument_names(TestLoop)
    if path.endswith('_dataloader') and '.' not in path:
        from torch.utils.data import DataLoader
        return _mro_argument_names(DataLoader)
    if path == 'log_processor':
        return _mro_argument_names(LogProcessor)
    if path == 'optim_wrapper':
        from mmengine.optim import OptimWrapper
        return _mro_argument_names(OptimWrapper) + [
            'constructor', 'paramwise_cfg'
        ]
    if path == 'env_cfg':
        return ['cudnn_benchmark', 'mp_cfg', 'dist_cfg', 'resource_limit']
    if path == 'randomness':
        return ['seed', 'diff_rank_seed', 'deterministic']
    if path == 'auto_scale_lr':
        return ['enable', 'base_batch_size']
    return None


def _allowed_new_key(path: str, node: dict, key: str,
                     root: dict) -> Tuple[bool, List[str], str]:
    """Whether a key a dict lacks may be added to it.

    Args:
        path (str): Dotted path of the dict.
        node (dict): The dict.
        key (str): The key it lacks.
        root (dict): The whole config.

    Returns:
        tuple[bool, list[str], str]: Whether it is allowed, the argument
        names of the constructor (for suggestions) and how to name that
        constructor in a message ('' for none).
    """
    if 'type' in node:
        cls = _lookup_type(node['type'], path)
        if cls is None:
            return True, [], ''  # cannot tell: let mmengine decide
        names, var_kw = _signature_names(cls)
        if names is None or var_kw or key in names:
            return True, [], ''
        return False, _mro_argument_names(cls), _type_name(node['type'])
    names = _implicit_arguments(path, node, root)
    if names is None:
        return False, [], ''
    return key in names, names, ('the Runner' if path == '' else '')


def _check_number(key: str, current: Any, value: Any) -> None:
    """Refuse a text for a config field that holds a number.

    Args:
        key (str): The dotted ``--cfg-options`` key.
        current (Any): The value the config has there.
        value (Any): The parsed option value.

    Raises:
        ConfigError: If ``current`` is an int or float (not a bool) and
            ``value`` a str.
    """
    if isinstance(current, bool) or not isinstance(
            current, (int, float)) or not isinstance(value, str):
        return
    kind = 'an int' if isinstance(current, int) else 'a float'
    raise ConfigError(
        f'--cfg-options {key}={value}: `{key}` is {kind} ({current!r}) in '
        f"the config, but the option gives the text '{value}'; give a "
        f'number, e.g. {key}={current!r}.')


def check_cfg_options(cfg: Any, options: Dict[str, Any]) -> None:
    """Check ``--cfg-options`` keys before they are merged into a config.

    mmengine's ``merge_from_dict`` adds keys a config lacks, so a misspelt
    option is silently ignored. A key is accepted if every part of its path
    exists (list indices in range), or if the first missing part is an
    argument of the constructor of the dict that would hold it: its
    ``type`` (looked up in mmprompt's registries; accepted when the type is
    not found or takes ``**kwargs``), or the class mmengine builds an
    untyped dict into (``train_cfg``: the train loop, ``*_dataloader``:
    ``DataLoader``, the top level: the ``Runner``, ...). A text given for
    a field that is a number in the config (``train_cfg.max_epochs=abc``)
    is an error too: mmengine would fail on it deep in the run.

    Args:
        cfg (Config | dict): The config the options will be merged into.
        options (dict): Dotted keys to values.

    Raises:
        ConfigError: Naming the option, the missing field and the closest
            existing ones; or the field, the text and the number expected.
    """
    root = _as_dict(cfg)
    for key in options:
        parts = key.split('.')
        node: Any = root
        for depth, part in enumerate(parts):
            path = '.'.join(parts[:depth])
            option = f'--cfg-options {key}'
            if isinstance(node, (list, tuple)):
                if not part.isdigit():
                    raise ConfigError(
                        f'{option}: `{path}` is a list; index it with a '
                        f'number, e.g. {path}.0.')
                if int(part) >= len(node):
                    raise ConfigError(
                        f'{option}: `{path}` is a list of {len(node)} '
                        f'entries, so its indices are 0 to {len(node) - 1}.')
                node = node[int(part)]
                continue
            if not isinstance(node, dict):
                value = repr(node)
                value = value if len(value) <= 40 else value[:37] + '...'
                raise ConfigError(
                    f'{option}: `{path}` is {type(node).__name__} {value}, '
                    f'not a dict, so it has no field `{part}`. Set '
                    f'`{path}` itself, or fix the key.')
            if part in node:
                node = node[part]
                continue
            if part in _SPECIAL_KEYS:
                break
            allowed, arguments, owner = _allowed_new_key(
                path, node, part, root)
            if allowed:
                break  # a new argument of a constructor: mmengine builds it
            field = f'`{path}`' if path else 'the config'
            candidates = [k for k in node if isinstance(k, str)
                          ] + [a for a in arguments if a not in node]
            hint = _did_you_mean(part, candidates)
            takes = (f' nor is it an argument of {owner}' if owner else '')
            if owner and arguments and path:
                has = f' {owner} takes: {_names_text(arguments)}.'
            else:
                has = _names_text([k for k in node if isinstance(k, str)])
                has = f' {field} has: {has}.' if has and path else ''
            raise ConfigError(
                f'{option}: {field} has no field `{part}`{takes}, so the '
                f'option would be silently ignored.{hint}{has}')
        else:
            _check_number(key, node, options[key])


def merge_cfg_options(cfg: Any, pairs: Optional[Sequence[str]]) -> Any:
    """Parse, check and merge ``--cfg-options`` into a config.

    Besides :func:`parse_cfg_options` and :func:`check_cfg_options`, an
    option that sets a ``default_hooks`` entry to ``None`` turns that hook
    off. mmengine's Runner does so only for its own six default hooks and
    fails on a bare assertion for any other, e.g. mmprompt's
    ``default_hooks.epoch_seed=None``; such entries are removed here (the
    Runner's own are left to it).

    Args:
        cfg (Config): The config; changed in place.
        pairs (Sequence[str], optional): ``'key=value'`` strings.

    Returns:
        Config: ``cfg``.
    """
    options = parse_cfg_options(pairs)
    if not options:
        return cfg
    check_cfg_options(cfg, options)
    cfg.merge_from_dict(options)
    hooks = cfg.get('default_hooks') or {}
    for key, value in options.items():
        name = key[len('default_hooks.'):]
        if (value is None and key.startswith('default_hooks.')
                and name in hooks and name not in _RUNNER_DEFAULT_HOOKS):
            hooks.pop(name)
    return cfg


# ---------------------------------------------------------------------------
# Files and folders
# ---------------------------------------------------------------------------
def _is_local(path: str) -> bool:
    """Whether a checkpoint path is a local file (not ``scheme://``)."""
    return '://' not in path and not path.startswith(('s3:', 'open-mmlab:'))


def check_checkpoint(path: Optional[str], source: str) -> None:
    """Check that a local checkpoint file exists.

    Args:
        path (str, optional): The checkpoint; None or a URL is not checked.
        source (str): Where it was given, for the message, e.g.
            ``'--resume'``.

    Raises:
        PathNotFoundError: If the file does not exist or is a folder.
    """
    if not path or not isinstance(path, str) or not _is_local(path):
        return
    full = osp.expanduser(path)
    if osp.isdir(full):
        raise PathNotFoundError(
            f'checkpoint {path} (from {source}) is a folder, not a file. '
            'Give the .pth file in it, e.g. '
            f'{osp.join(path, "epoch_N.pth")}.')
    if not osp.isfile(full):
        raise PathNotFoundError(
            f'checkpoint file {path} (from {source}) does not exist. Check '
            'the path; a training writes epoch_N.pth files into its work '
            'dir.')


def _writable_folder(folder: str) -> bool:
    """Whether files can be created in an existing folder."""
    return os.access(folder, os.W_OK | os.X_OK)


def check_out_file(path: Optional[str]) -> None:
    """Check that a results file (``--out``) can be written.

    Args:
        path (str, optional): The file; None is not checked.

    Raises:
        PathNotFoundError: If its folder does not exist.
        ConfigError: If it is a folder, or its folder is not writable.
    """
    if path is None:
        return
    full = osp.expanduser(path)
    if osp.isdir(full):
        raise ConfigError(f'--out {path} is a folder; give a file name, e.g. '
                          f'{osp.join(path, "results.pkl")}.')
    folder = osp.dirname(osp.abspath(full))
    if not osp.isdir(folder):
        raise PathNotFoundError(
            f'the folder of --out {path} ({folder}) does not exist. Create '
            'it first, or write the results elsewhere.')
    if not _writable_folder(folder) or (osp.exists(full)
                                        and not os.access(full, os.W_OK)):
        raise ConfigError(
            f'--out {path} cannot be written: no write permission in '
            f'{folder}. Choose a folder you can write to.')


def check_work_dir(work_dir: str) -> None:
    """Check that a work directory exists or can be created, and is writable.

    Args:
        work_dir (str): The work directory.

    Raises:
        ConfigError: If it is a file, or it (or the folder it would be
            created in) cannot be written.
    """
    full = osp.abspath(osp.expanduser(work_dir))
    if osp.exists(full) and not osp.isdir(full):
        raise ConfigError(
            f'work dir {work_dir} is a file, not a folder. Pass another '
            '--work-dir.')
    existing = full
    while not osp.exists(existing):
        existing = osp.dirname(existing)
    if not osp.isdir(existing) or not _writable_folder(existing):
        where = ('' if existing == full else
                 f' (it would be created in {existing})')
        raise ConfigError(
            f'work dir {work_dir} is not writable{where}. Pass a --work-dir '
            'you can write to.')


def check_data_roots(cfg: Any, loaders: Sequence[str]) -> None:
    """Check that the ``data_root`` of each dataloader's dataset exists.

    Datasets wrapped in others (``dataset=dict(type='RepeatDataset',
    dataset=...)``, ``datasets=[...]``) are checked too. A dataset class
    with ``WRITES_ON_FIRST_USE = True`` creates its data root itself and is
    skipped.

    Args:
        cfg (Config | dict): The config.
        loaders (Sequence[str]): Names of the dataloaders the run uses, e.g.
            ``['train_dataloader', 'val_dataloader']``; missing or None
            ones are skipped.

    Raises:
        PathNotFoundError: Naming the first missing data root (or one that
            is a file), its config field and how to point the config at
            the data.
    """
    root = _as_dict(cfg)
    for loader in loaders:
        loader_cfg = root.get(loader) if isinstance(root, dict) else None
        if not isinstance(loader_cfg, dict) or not isinstance(
                loader_cfg.get('dataset'), dict):
            continue
        for path, node in _walk_typed_dicts(loader_cfg['dataset'],
                                            f'{loader}.dataset'):
            data_root = node.get('data_root')
            if not data_root or not isinstance(data_root, str):
                continue
            if '://' in data_root or osp.isdir(osp.expanduser(data_root)):
                continue
            cls = _lookup_type(node['type'], path)
            if getattr(cls, 'WRITES_ON_FIRST_USE', False):
                continue
            relative = ('' if osp.isabs(data_root) else
                        f' (relative to {os.getcwd()})')
            problem = ('is a file, not a folder' if osp.exists(
                osp.expanduser(data_root)) else 'does not exist')
            raise PathNotFoundError(
                f'data root {data_root} of `{path}` '
                f'({_type_name(node["type"])}) {problem}{relative}. '
                'Put the dataset there, or point the config at it: '
                f'--cfg-options {path}.data_root=/path/to/data')


def check_resumable(work_dir: str) -> str:
    """The checkpoint ``--resume`` (without a path) would resume from.

    Args:
        work_dir (str): The work directory.

    Returns:
        str: The checkpoint named by ``<work_dir>/last_checkpoint``.

    Raises:
        CheckpointError: If the work directory has no ``last_checkpoint``,
            or the checkpoint it names does not exist.
    """
    from mmengine.runner import find_latest_checkpoint
    if not osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        raise CheckpointError(
            f'--resume: there is nothing to resume in work dir {work_dir} '
            '(it has no last_checkpoint file: no training saved a '
            'checkpoint there). Drop --resume to start a fresh training, '
            'or pass the checkpoint to resume from: --resume PATH.')
    checkpoint = find_latest_checkpoint(work_dir)
    if not checkpoint or not osp.isfile(checkpoint):
        raise CheckpointError(
            f'--resume: {osp.join(work_dir, "last_checkpoint")} names the '
            f"checkpoint '{checkpoint}', which does not exist. Pass the "
            'checkpoint to resume from: --resume PATH, or drop --resume to '
            'start fresh.')
    return checkpoint


# ---------------------------------------------------------------------------
# The work-dir lock
# ---------------------------------------------------------------------------
# The environment variables each --launcher reads (set by its starter).
_LAUNCHER_ENV = {
    'pytorch': ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'),
    'slurm': ('SLURM_PROCID', ),
    'mpi': ('OMPI_COMM_WORLD_RANK', ),
}


def _launcher_starts(launcher: str, tool: str) -> Tuple[str, str]:
    """What a launcher needs and how to start ``tools/<tool>.py`` with it."""
    args = 'CONFIG' if tool == 'train' else 'CONFIG CHECKPOINT'
    script = f'tools/{tool}.py {args}'
    if launcher == 'pytorch':
        return ('the environment torchrun sets',
                f'start it with `bash tools/dist_{tool}.sh {args} N` or '
                f'`torchrun --nproc_per_node N {script} --launcher pytorch`')
    if launcher == 'slurm':
        work_dir = ' WORK_DIR' if tool == 'train' else ''
        return ('a Slurm job step',
                f'start it with `bash tools/slurm_{tool}.sh PARTITION JOB '
                f'{args}{work_dir}` (srun sets it)')
    return ('an Open MPI job',
            f'start it with `mpirun -np N python {script} --launcher mpi`')


def check_launcher(launcher: Optional[str], tool: str = 'train') -> None:
    """Check that a ``--launcher`` runs under the starter it needs.

    mmengine's ``init_dist`` reads the environment the starter sets and
    fails with ``KeyError: 'RANK'`` without it.

    Args:
        launcher (str, optional): ``'none'`` (or None: not checked),
            ``'pytorch'`` (needs ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
            ``MASTER_PORT``, set by torchrun), ``'slurm'``
            (``SLURM_PROCID``) or ``'mpi'`` (``OMPI_COMM_WORLD_RANK``).
        tool (str): ``'train'`` or ``'test'``: the tool to name in the
            message. Defaults to ``'train'``.

    Raises:
        ConfigError: Naming the launcher, the missing variables and how to
            start the tool (or to drop ``--launcher``).
    """
    needed = _LAUNCHER_ENV.get(launcher or 'none')
    if not needed:
        return
    missing = [name for name in needed if name not in os.environ]
    if not missing:
        return
    what, start = _launcher_starts(launcher, tool)
    names = ', '.join(needed)
    if len(missing) < len(needed):
        names += f'; missing: {", ".join(missing)}'
    raise ConfigError(
        f'--launcher {launcher} needs {what} ({names}); {start}, or drop '
        '--launcher to run in one process.')


def launcher_rank(launcher: str = 'none') -> int:
    """The global rank of this process, read from the launcher's environment.

    Args:
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
            Defaults to ``'none'``.

    Returns:
        int: 0 without a launcher; else ``RANK`` (torchrun), then
        ``SLURM_PROCID`` or ``OMPI_COMM_WORLD_RANK``.
    """
    if launcher == 'none':
        return 0
    for name in ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK'):
        value = os.environ.get(name)
        if value is not None and value.strip().isdigit():
            return int(value)
    return 0


class WorkDirLock:
    """An exclusive lock on a work directory, so runs cannot collide.

    ``fcntl.flock`` on ``<work_dir>/.mmprompt.lock``, which holds the
    holder's pid, host, start time and command. The operating system
    releases the lock when the holder dies, so a lock file left behind by a
    killed run does not block: the lock is tested, not the file's
    existence. The file is never deleted (deleting it would let two runs
    lock two different files). On a file system without ``flock`` support
    the run goes on unlocked, with a warning.

    Args:
        work_dir (str): The work directory; created if missing.
        command (str, optional): The command recorded in the lock file.
            Defaults to the process's command line.

    Examples:
        >>> with WorkDirLock('work_dirs/run'):  # doctest: +SKIP
        ...     runner.train()
    """

    def __init__(self, work_dir: str, command: Optional[str] = None) -> None:
        self.work_dir = work_dir
        self.path = osp.join(work_dir, LOCK_FILE)
        self.command = command if command is not None else ' '.join(
            shlex.quote(a) for a in [osp.basename(sys.executable)] + sys.argv)
        self._fd: Optional[int] = None

    def holder(self) -> Dict[str, Any]:
        """What the lock file says about its holder (empty if unreadable)."""
        try:
            with open(self.path, encoding='utf-8') as f:
                text = f.read()
        except OSError:
            return {}
        try:
            info = json.loads(text)
        except ValueError:
            return {'command': text.strip()} if text.strip() else {}
        return info if isinstance(info, dict) else {}

    def acquire(self) -> 'WorkDirLock':
        """Take the lock.

        Returns:
            WorkDirLock: ``self``.

        Raises:
            WorkDirLockedError: If another process holds it, naming the work
                dir and the holder's pid and command.
            ConfigError: If the work dir or its lock file cannot be created.
        """
        try:
            os.makedirs(self.work_dir, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise ConfigError(
                f'cannot create work dir {self.work_dir} '
                f'({err.strerror or err}); pass a --work-dir you can write '
                'to.') from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise self._locked_error() from None
            print_log(
                f'Cannot lock the work dir {self.work_dir} ({err}); going on '
                'without the lock: make sure no other run writes into it.',
                logger='current',
                level=logging.WARNING)
            return self
        info = {
            'pid': os.getpid(),
            'host': socket.gethostname(),
            'started': datetime.datetime.now().isoformat(timespec='seconds'),
            'command': self.command,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + '\n').encode('utf-8'), 0)
        self._fd = fd
        return self

    def _locked_error(self) -> WorkDirLockedError:
        """The error for a lock another process holds."""
        info = self.holder()
        pid = info.get('pid', 'unknown')
        host = f" on {info['host']}" if info.get('host') else ''
        started = (f", started {info['started']}"
                   if info.get('started') else '')
        command = (f": {info['command']}" if info.get('command') else '')
        return WorkDirLockedError(
            f'work dir {self.work_dir} is in use by another run (pid {pid}'
            f'{host}{started}){command}. Two runs in one work dir would mix '
            'their logs and overwrite each other\'s checkpoints: pass '
            'another --work-dir, or wait for that run to finish (lock file: '
            f'{self.path}).')

    def release(self) -> None:
        """Release the lock (the file stays, emptied)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @property
    def locked(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def __enter__(self) -> 'WorkDirLock':
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()


@contextlib.contextmanager
def lock_work_dir(work_dir: str,
                  launcher: str = 'none') -> Iterator[Optional[WorkDirLock]]:
    """Hold the work-dir lock for a training, on rank 0 only.

    Under a launcher only the process of global rank 0 takes the lock; the
    other ranks write into the same work dir as part of the same run.

    Args:
        work_dir (str): The work directory.
        launcher (str): The ``--launcher`` of the tool. Defaults to
            ``'none'``.

    Yields:
        WorkDirLock | None: The held lock (None on other ranks).

    Raises:
        WorkDirLockedError: If another run holds the work dir.
    """
    if launcher_rank(launcher) != 0:
        yield None
        return
    with WorkDirLock(work_dir) as lock:
        yield lock
