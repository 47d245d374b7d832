# Copyright (c) mmprompt contributors. All rights reserved.
"""Bake the class text features of a text-prompt model into a plain
mmpretrain ``ImageClassifier``.

At inference, zero-shot CLIP, CoOp, KgCoOp and the meta-trained prompts all
compute ``logit_scale * normalize(f(x)) @ normalize(T).T`` with class text
features ``T`` that no longer change once the prompts are trained (the
prompt head caches them). :func:`bake` computes ``T`` once and writes the
model as mmpretrain modules only:

* the image tower as mmpretrain's ``VisionTransformer`` in the CLIP layout
  plus a ``LinearNeck`` (the projection, zero bias), see
  :mod:`mmprompt.models.clip.mmpretrain_convert`;
* the head as mmpretrain's ``ArcFaceClsHead`` with ``scale=logit_scale``
  and the ``C x D`` weight ``T``: at inference (no target) it returns
  ``scale * normalize(x) @ normalize(W).T`` (its ``NormProduct``; the
  margin only enters its training loss), which is CLIP's logit exactly.

No text encoder is left: the exported model costs what mmpretrain's ViT
costs, and it builds and runs where mmprompt is not installed.
:func:`export_classifier` writes the config and checkpoint (and optionally
ONNX), after checking on a few images that the written files give the
logits of the mmprompt model.

Methods whose class scores depend on the image beyond that product cannot
be baked and are refused (:func:`unbakeable_reason`): CoCoOp (per-image
prompts), the instance-wise prompts (a per-image top-k over instance
prompts), and every method that prompts the image tower (MaPLe, IVLP,
VPT-deep, DAPT, PromptSRC).
"""
import copy
import json
import os
import os.path as osp
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from mmprompt.errors import ConfigError
from mmprompt.models.clip.mmpretrain_convert import (NotExportableError,
                                                     image_tower_to_mmpretrain,
                                                     plain_data_preprocessor,
                                                     plain_pipeline)

__all__ = [
    'EXPORTABLE_METHODS', 'DEFAULT_OPSET', 'BakedClassifier', 'ExportResult',
    'unbakeable_reason', 'check_bakeable_config', 'check_bakeable', 'bake',
    'build_plain_model', 'exported_config_text', 'output_paths',
    'check_output', 'logits_on_images', 'export_onnx', 'onnx_logits',
    'export_classifier'
]

#: What can be exported, as the errors name it.
EXPORTABLE_METHODS = (
    'zero-shot CLIP (HandcraftedPrompts), CoOp (CoOpPromptLearner), KgCoOp '
    '(KgCoOpHead) and the meta-trained prompts (MetaPromptClsHead): a '
    'PromptClsHead whose class text features are fixed after training, on '
    'an unprompted ViT image tower')
#: The ONNX opset used unless told otherwise.
DEFAULT_OPSET = 17
#: Methods of PromptClsHead that make up its inference; a head overriding
#: one of them scores classes its own way.
_INFERENCE_METHODS = ('forward', 'cosine_logits', 'text_features', 'predict',
                      'pre_logits')


def _name(obj: Any) -> str:
    return getattr(obj, '__name__', type(obj).__name__)


def unbakeable_reason(classifier_cls: type,
                      head_cls: Optional[type],
                      learner_cls: Optional[type] = None) -> Optional[str]:
    """Why a method cannot become a plain classifier, or None if it can.

    Decided by what the classes compute at inference: the image tower must
    run without prompts (the classifier's own ``extract_feat`` and a
    learner without visual prompts), and the head must score with
    :class:`PromptClsHead`'s fixed class text features (no image-conditioned
    learner, no head overriding its inference).

    Args:
        classifier_cls (type): The model's class.
        head_cls (type, optional): The head's class.
        learner_cls (type, optional): The prompt learner's class.

    Returns:
        str | None: The reason, naming the class that causes it.
    """
    from mmpretrain.models.classifiers import ImageClassifier

    from mmprompt.models import BasePromptLearner, PromptClsHead
    if head_cls is None or not issubclass(head_cls, PromptClsHead):
        what = 'no head' if head_cls is None else f'the head {_name(head_cls)}'
        return (f'it has {what}, not a prompt head (PromptClsHead), so it '
                'has no class text features to bake (a model with an '
                'mmpretrain head, e.g. the linear probe, needs no baking)')
    if not issubclass(classifier_cls, ImageClassifier):
        return (f'its classifier {_name(classifier_cls)} is not an '
                'mmpretrain ImageClassifier')
    prompts_tower = (
        classifier_cls.extract_feat is not ImageClassifier.extract_feat or
        (learner_cls is not None and issubclass(learner_cls, BasePromptLearner)
         and learner_cls.visual_prompts
         is not BasePromptLearner.visual_prompts))
    if prompts_tower:
        learner = f'its prompt learner {_name(learner_cls)}' \
            if learner_cls is not None else 'its prompt learner'
        return (f'{learner} puts learned prompt tokens into the image tower '
                f'({_name(classifier_cls)} runs the backbone with them), so '
                'the image features depend on visual prompts that a plain '
                'VisionTransformer cannot hold')
    if learner_cls is not None and callable(
            getattr(learner_cls, 'conditional_features', None)):
        return (f'its prompt learner {_name(learner_cls)} conditions the '
                'context on each image (a meta-net adds a shift computed from '
                'the image features), so the class text features differ for '
                'every image and cannot be fixed into a linear head')
    overridden = [
        m for m in _INFERENCE_METHODS
        if getattr(head_cls, m) is not getattr(PromptClsHead, m)
    ]
    if overridden:
        detail = ''
        if any(_name(c) == 'InstancePromptHead' for c in head_cls.__mro__):
            detail = (': it scores each class by the mean of the instance '
                      'prompts most similar to each image (a per-image '
                      'top-k), which no fixed linear head computes')
        verb = 'differs' if len(overridden) == 1 else 'differ'
        return (f'its head {_name(head_cls)} computes the class scores its '
                f'own way ({", ".join(overridden)} {verb} from '
                f'PromptClsHead\'s){detail}')
    return None


def _refuse(method: str, reason: str) -> NotExportableError:
    return NotExportableError(
        f'{method} cannot be exported to a plain mmpretrain classifier: '
        f'{reason}. Export supports {EXPORTABLE_METHODS}; test this method '
        'with tools/test.py instead.')


def _lookup(obj_type: Any, what: str) -> Optional[type]:
    from mmprompt.registry import MODELS
    if obj_type is None:
        return None
    if isinstance(obj_type, type):
        return obj_type
    cls = MODELS.get(obj_type)
    if cls is None:
        raise ConfigError(f'{what} type {obj_type!r} is not registered; fix '
                          'the config.')
    return cls


def check_bakeable_config(model_cfg: dict) -> None:
    """Refuse, from the config alone, a method :func:`bake` cannot export.

    The same decision as :func:`check_bakeable` on the classes the config
    names, before anything is built (it takes milliseconds).

    Args:
        model_cfg (dict): The ``model`` field of a config.

    Raises:
        NotExportableError: Naming the method and why.
    """
    head = model_cfg.get('head') or {}
    learner = head.get('prompt_learner') if isinstance(head, dict) else None
    classifier_cls = _lookup(model_cfg.get('type'), 'model')
    head_cls = _lookup(head.get('type'), 'model.head') if head else None
    learner_cls = _lookup(learner.get('type'),
                          'model.head.prompt_learner') if isinstance(
                              learner, dict) else None
    reason = unbakeable_reason(classifier_cls, head_cls, learner_cls)
    if reason is not None:
        names = [
            _name(c) for c in (classifier_cls, head_cls, learner_cls)
            if c is not None
        ]
        raise _refuse(f"The method {'/'.join(names)}", reason)


def check_bakeable(model: nn.Module) -> None:
    """Refuse a built model :func:`bake` cannot export.

    Args:
        model (nn.Module): The model.

    Raises:
        NotExportableError: Naming the method and why.
    """
    from mmprompt.engine.hooks.checkpoint_check import describe_method
    head = getattr(model, 'head', None)
    learner = getattr(head, 'prompt_learner', None)
    reason = unbakeable_reason(
        type(model), None if head is None else type(head),
        None if learner is None else type(learner))
    if reason is None and head.visual_prompts() is not None:
        reason = (f'its prompt learner {type(learner).__name__} gives the '
                  'image tower visual prompts')
    if reason is not None:
        raise _refuse(f'The method {describe_method(model)}', reason)


@dataclass
class BakedClassifier:
    """A plain mmpretrain classifier: its config and weights.

    Attributes:
        model (dict): The ``model`` config (mmpretrain types only).
        state_dict (dict[str, torch.Tensor]): Its weights (float32).
        classes (list[str]): The class names, index = label.
        logit_scale (float): CLIP's temperature, the head's ``scale``.
        method (str): What was baked, e.g.
            ``'ImageClassifier/PromptClsHead/CoOpPromptLearner'``.
    """
    model: dict
    state_dict: Dict[str, torch.Tensor]
    classes: List[str]
    logit_scale: float
    method: str


def bake(model: nn.Module,
         model_cfg: dict,
         classes: Sequence[str],
         template: Optional[str] = None,
         dataset_name: Optional[str] = None) -> BakedClassifier:
    """Bake a text-prompt model for ``classes`` into a plain classifier.

    Args:
        model (nn.Module): The mmprompt model, with its trained prompts
            loaded.
        model_cfg (dict): Its config (the data preprocessor and, for an
            mmpretrain backbone, the backbone are taken from it).
        classes (Sequence[str]): Class names in label order.
        template (str, optional): The dataset's template, for hand-crafted
            prompts with ``templates='dataset'``. Defaults to None.
        dataset_name (str, optional): CoOp's dataset name, for template
            sets that need it. Defaults to None.

    Returns:
        BakedClassifier: The config and weights.

    Raises:
        NotExportableError: A method or tower that has no plain form.
        ConfigError: An empty class list.
    """
    from mmprompt.engine.hooks.checkpoint_check import describe_method
    classes = [str(c) for c in classes]
    if not classes:
        raise ConfigError('no classes to export: the class list is empty.')
    check_bakeable(model)
    head = model.head
    extra = {} if dataset_name is None else dict(dataset_name=dataset_name)
    model.eval()
    head.set_class_names(classes, template=template, **extra)
    with torch.no_grad():
        text = head.text_features().detach().float()
        scale = float(head.logit_scale)
    backbone, neck, state = image_tower_to_mmpretrain(model, model_cfg)
    if neck is not None and neck['out_channels'] != text.shape[-1]:
        raise NotExportableError(
            f'the image tower projects to {neck["out_channels"]} channels '
            f'but the class text features have {text.shape[-1]}.')
    state['head.norm_product.weight'] = text.clone().contiguous()
    plain = dict(
        type='ImageClassifier',
        data_preprocessor=plain_data_preprocessor(
            model_cfg.get('data_preprocessor')),
        backbone=backbone)
    if neck is not None:
        plain['neck'] = neck
    plain.update(
        head=dict(
            type='ArcFaceClsHead',
            num_classes=len(classes),
            in_channels=int(text.shape[-1]),
            scale=scale,
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
    return BakedClassifier(plain, state, classes, scale,
                           describe_method(model))


def build_plain_model(model_cfg: dict,
                      state_dict: Optional[dict] = None) -> nn.Module:
    """Build a baked config with mmpretrain's registry (strict load).

    Args:
        model_cfg (dict): A :attr:`BakedClassifier.model`.
        state_dict (dict, optional): Weights to load strictly.

    Returns:
        nn.Module: The model in eval mode.
    """
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(copy.deepcopy(model_cfg))
    if state_dict is not None:
        model.load_state_dict(state_dict, strict=True)
    return model.eval()


class _Name(str):
    """A variable of the config file, written without quotes."""

    def __repr__(self) -> str:
        return str(self)


def _py(value: Any, indent: int = 0, used: int = 0, width: int = 79) -> str:
    """``value`` as Python source: ``dict(key=...)`` in insertion order, on
    one line where it fits (``used`` columns of it are taken already), else
    one item a line indented by ``indent + 4`` (short scalars filled)."""
    pad = ' ' * (indent + 4)
    if isinstance(value, dict) and all(
            isinstance(k, str) and k.isidentifier() for k in value):
        items = [
            f'{k}={_py(v, indent + 4, indent + 5 + len(k), width)}'
            for k, v in value.items()
        ]
        opening, closing = 'dict(', ')'
    elif isinstance(value, list):
        items = [_py(v, indent + 4, indent + 4, width) for v in value]
        opening, closing = '[', ']'
    else:
        return repr(value)
    flat = opening + ', '.join(items) + closing
    if '\n' not in flat and used + len(flat) <= width:
        return flat
    if items and all('\n' not in i and len(i) < 30 for i in items):
        lines, line = [], pad  # short scalars (e.g. class names): fill
        for item in items:
            if len(line) + len(item) + 1 > width and line.strip():
                lines.append(line.rstrip())
                line = pad
            line += item + ', '
        lines.append(line.rstrip())
    else:
        lines = [pad + item + ',' for item in items]
    return opening + '\n' + '\n'.join(lines) + '\n' + ' ' * indent + closing


def exported_config_text(baked: BakedClassifier,
                         test_pipeline: Sequence[dict],
                         header: Optional[Sequence[str]] = None) -> str:
    """The exported config file: ``model``, pipeline, loader, classes.

    Plain Python with mmpretrain types only, read by mmengine's
    ``Config.fromfile`` (so by ``mmpretrain.apis.init_model`` and
    ``ImageClassificationInferencer``): ``default_scope``,
    ``data_preprocessor``, ``model``, ``test_pipeline``,
    ``test_dataloader`` (the inferencer takes the pipeline from it; point
    its ``data_prefix`` at a folder of images to iterate over one) and
    ``dataset_meta`` (the classes, also in the checkpoint's meta).

    Args:
        baked (BakedClassifier): The classifier.
        test_pipeline (Sequence[dict]): mmpretrain transforms
            (:func:`~mmprompt.models.clip.mmpretrain_convert.plain_pipeline`).
        header (Sequence[str], optional): Comment lines put first.

    Returns:
        str: The file's text.
    """
    model = dict(baked.model)
    model['data_preprocessor'] = _Name('data_preprocessor')
    loader = dict(
        batch_size=32,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(
            type='CustomDataset',
            data_prefix='',
            with_label=False,
            pipeline=_Name('test_pipeline')))
    parts = [f'# {line}' if line else '#' for line in header or ()]
    parts += ["default_scope = 'mmpretrain'", '']
    for key, value in (('data_preprocessor',
                        baked.model['data_preprocessor']), ('model', model),
                       ('test_pipeline',
                        list(test_pipeline)), ('test_dataloader', loader),
                       ('dataset_meta', dict(classes=list(baked.classes)))):
        parts += [f'{key} = ' + _py(value, 0, len(key) + 3), '']
    return '\n'.join(parts)


def _pipeline(steps: Sequence[dict], scope: str):
    from mmengine.dataset import Compose
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import TRANSFORMS
    with DefaultScope.overwrite_default_scope(scope):
        return Compose([TRANSFORMS.build(copy.deepcopy(s)) for s in steps])


def logits_on_images(model: nn.Module, pipeline: Sequence[dict],
                     image_paths: Sequence[str],
                     scope: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """Run image files through a test pipeline and a model.

    Args:
        model (nn.Module): An ``ImageClassifier`` (mmprompt's or plain).
        pipeline (Sequence[dict]): Its test transforms (with the loading).
        image_paths (Sequence[str]): The images.
        scope (str): The registry scope of the transforms (``'mmprompt'``
            or ``'mmpretrain'``).

    Returns:
        tuple[Tensor, Tensor]: The logits ``(N, C)`` and the preprocessed
        inputs ``(N, 3, H, W)`` the model got.
    """
    from mmengine.dataset import pseudo_collate
    compose = _pipeline(pipeline, scope)
    batch = pseudo_collate([compose(dict(img_path=p)) for p in image_paths])
    with torch.no_grad():
        data = model.data_preprocessor(batch, False)
        logits = model(data['inputs'], mode='tensor')
    return logits.float(), data['inputs']


def _opset_hint(message: str, opset: int) -> str:
    added = re.search(r'added in (?:opset |version )(\d+)', message)
    if added and int(added.group(1)) > opset:
        return f'--opset {added.group(1)} or higher (e.g. {DEFAULT_OPSET})'
    return f'--opset {DEFAULT_OPSET}' if opset != DEFAULT_OPSET else \
        '--opset 14 to 20'


def export_onnx(model: nn.Module,
                inputs: torch.Tensor,
                path: str,
                opset: int = DEFAULT_OPSET,
                dynamo: bool = False,
                metadata: Optional[Dict[str, str]] = None) -> None:
    """Export a plain classifier to ONNX: normalised images -> logits.

    The graph takes what the data preprocessor gives the model (RGB,
    ``(x - mean) / std``, ``(B, 3, H, W)`` float32, the batch size free)
    and returns the logits ``(B, C)``; ``metadata`` (e.g. the classes,
    mean and std) is stored in the file's ``metadata_props``.

    Args:
        model (nn.Module): A plain ``ImageClassifier`` in eval mode.
        inputs (Tensor): An example batch.
        path (str): The ``.onnx`` file.
        opset (int): ONNX opset. Defaults to :data:`DEFAULT_OPSET`.
        dynamo (bool): Use torch's ``torch.export``-based exporter (it
            needs the ``onnxscript`` package) instead of the TorchScript
            one. Defaults to False.
        metadata (dict[str, str], optional): Extra metadata. Defaults to
            None.

    Raises:
        ConfigError: The exporter failed for this opset (naming the opset
            to try), or ``dynamo=True`` without ``onnxscript``.
    """
    import onnx
    kwargs = dict(
        opset_version=opset,
        input_names=['inputs'],
        output_names=['logits'],
        dynamic_axes={
            'inputs': {
                0: 'batch'
            },
            'logits': {
                0: 'batch'
            }
        })
    if dynamo:
        try:
            import onnxscript  # noqa: F401
        except ImportError as err:
            raise ConfigError(
                '--dynamo: torch\'s torch.export-based ONNX exporter needs '
                'the onnxscript package, which is not installed (pip install '
                'onnxscript); or leave out --dynamo for the TorchScript '
                'exporter.') from err
        kwargs.pop('dynamic_axes')
        kwargs['dynamic_shapes'] = ({0: torch.export.Dim('batch')}, )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # tracer and deprecation notes
            torch.onnx.export(model, (inputs, ), path, dynamo=dynamo, **kwargs)
    except Exception as err:  # noqa: BLE001 - every exporter failure
        lines = str(err).strip().splitlines()
        first = lines[0].strip() if lines else type(err).__name__
        first = first if first.endswith(('.', '!', '?')) else first + '.'
        raise ConfigError(
            f'ONNX export with --opset {opset} failed: '
            f'{type(err).__name__}: {first} Try {_opset_hint(first, opset)}.'
        ) from err
    if metadata:
        proto = onnx.load(path)
        for key, value in metadata.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, path)


def onnx_logits(path: str, inputs: torch.Tensor) -> torch.Tensor:
    """Logits of an exported ONNX file, computed by onnxruntime on CPU."""
    import onnxruntime
    session = onnxruntime.InferenceSession(
        path, providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    out = session.run(None, {name: inputs.detach().cpu().numpy()})[0]
    return torch.from_numpy(np.asarray(out)).float()


@dataclass
class ExportResult:
    """What :func:`export_classifier` wrote and checked.

    Attributes:
        config (str): The exported config file.
        checkpoint (str): The exported checkpoint file.
        onnx (str, optional): The ONNX file, if one was asked for.
        method (str): What was baked.
        classes (list[str]): The class names.
        logit_scale (float): The head's scale.
        check_images (str): What the check ran on.
        max_diff (float): Max |logits(exported files) - logits(mmprompt)|.
        onnx_max_diff (float, optional): The same for onnxruntime.
    """
    config: str
    checkpoint: str
    onnx: Optional[str]
    method: str
    classes: List[str]
    logit_scale: float
    check_images: str
    max_diff: float
    onnx_max_diff: Optional[float] = None


def _random_images(folder: str, count: int, size: Tuple[int,
                                                        int]) -> List[str]:
    """``count`` random RGB PNGs, a little larger than the model input."""
    from PIL import Image
    rng = np.random.default_rng(0)
    height, width = int(size[0] * 1.25), int(size[1] * 1.5)
    paths = []
    for i in range(count):
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        path = osp.join(folder, f'random_{i}.png')
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def _input_size(baked: BakedClassifier) -> Tuple[int, int]:
    size = baked.model['backbone'].get('img_size', 224)
    return (size, size) if isinstance(size, int) else tuple(size)


def output_paths(out_dir: str, name: str, onnx: bool = False) -> dict:
    """The files an export writes: ``{'.py': ..., '.pth': ...[, '.onnx']}``.

    Raises:
        ConfigError: ``name`` is not a plain file name.
    """
    if not name or osp.basename(name) != name or name in ('.', '..'):
        raise ConfigError(f'--name {name!r} must be a file name without '
                          'folders, e.g. coop_vitb16_dtd.')
    suffixes = ('.py', '.pth') + (('.onnx', ) if onnx else ())
    return {s: osp.join(out_dir, name + s) for s in suffixes}


def check_output(out_dir: str,
                 name: str,
                 onnx: bool = False,
                 force: bool = False) -> dict:
    """Check, before anything is built, that an export can be written.

    Args:
        out_dir (str): The output folder (created later if missing).
        name (str): The file name without suffix.
        onnx (bool): Whether an ONNX file is written too (its packages
            are checked). Defaults to False.
        force (bool): Whether existing files may be overwritten. Defaults
            to False.

    Returns:
        dict: :func:`output_paths`.

    Raises:
        ConfigError: ``out_dir`` is a file, holds files of the same name
            (without ``force``) or folders of that name, or ONNX packages
            are missing.
    """
    paths = output_paths(out_dir, name, onnx)
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise ConfigError(f'--out-dir {out_dir} is a file, not a folder. '
                          'Pass a folder (it is created if missing).')
    taken = [p for p in paths.values() if osp.lexists(p)]
    folders = [p for p in taken if osp.isdir(p)]
    if folders:
        raise ConfigError(
            f'{folders[0]} is a folder; an exported file cannot replace it. '
            'Pass another --name or --out-dir.')
    if taken and not force:
        raise ConfigError(
            f'--out-dir {out_dir} already holds '
            f'{", ".join(osp.basename(p) for p in taken)}; pass --force to '
            'overwrite them, or another --name or --out-dir.')
    if onnx:
        for module in ('onnx', 'onnxruntime'):
            try:
                __import__(module)
            except ImportError as err:
                raise ConfigError(
                    f'--onnx needs the {module} package (the export is '
                    f'checked with onnxruntime): pip install {module}'
                ) from err
    return paths


def export_classifier(model: nn.Module,
                      model_cfg: dict,
                      classes: Sequence[str],
                      test_pipeline: Sequence[dict],
                      out_dir: str,
                      name: str,
                      template: Optional[str] = None,
                      dataset_name: Optional[str] = None,
                      check_images: Optional[Sequence[str]] = None,
                      check_description: Optional[str] = None,
                      num_check_images: int = 4,
                      atol: float = 1e-4,
                      onnx: bool = False,
                      opset: int = DEFAULT_OPSET,
                      dynamo: bool = False,
                      force: bool = False,
                      header: Sequence[str] = (),
                      meta: Optional[dict] = None) -> ExportResult:
    """Bake ``model``, write it, and check the written files.

    Writes ``out_dir/<name>.py`` (an mmpretrain config: ``model``,
    ``data_preprocessor``, ``test_pipeline``, ``test_dataloader`` and
    ``dataset_meta``), ``out_dir/<name>.pth`` (``state_dict`` plus
    ``meta['dataset_meta']['classes']``, which mmpretrain's ``init_model``
    and ``ImageClassificationInferencer`` read) and, with ``onnx``,
    ``out_dir/<name>.onnx``. The files are written into a temporary folder
    inside ``out_dir`` first; the written config and checkpoint are loaded
    back with ``mmpretrain.apis.init_model`` and run on the check images
    through the exported pipeline, and only when their logits are within
    ``atol`` of the mmprompt model's (through its own pipeline) are the
    files moved into place. Otherwise nothing is left behind.

    Args:
        model (nn.Module): The mmprompt model, prompts loaded.
        model_cfg (dict): Its config.
        classes (Sequence[str]): Class names, index = label.
        test_pipeline (Sequence[dict]): The config's test pipeline (with
            mmprompt's transforms; converted by
            :func:`~mmprompt.models.clip.mmpretrain_convert.plain_pipeline`).
        out_dir (str): The output folder (created if missing).
        name (str): File name without suffix.
        template (str, optional): See :func:`bake`.
        dataset_name (str, optional): See :func:`bake`.
        check_images (Sequence[str], optional): Images to check on; None
            draws ``num_check_images`` random ones. Defaults to None.
        check_description (str, optional): What ``check_images`` are, for
            messages, e.g. ``'4 test images'``. Defaults to None.
        num_check_images (int): Random images when ``check_images`` is
            None. Defaults to 4.
        atol (float): The largest allowed logit difference. Defaults to
            1e-4.
        onnx (bool): Also write and check ONNX. Defaults to False.
        opset (int): ONNX opset. Defaults to :data:`DEFAULT_OPSET`.
        dynamo (bool): See :func:`export_onnx`. Defaults to False.
        force (bool): Overwrite existing files of the same name. Defaults
            to False.
        header (Sequence[str]): Comment lines of the config file.
        meta (dict, optional): More entries of the checkpoint's ``meta``
            (plain Python values only). Defaults to None.

    Returns:
        ExportResult: What was written and the differences measured.

    Raises:
        ConfigError: Bad output paths, classes or opset, or a check that
            failed (naming the difference).
        NotExportableError: A method that cannot be baked.
    """
    from mmpretrain.apis import init_model
    final = check_output(out_dir, name, onnx, force)
    suffixes = tuple(final)
    plain_steps = plain_pipeline(test_pipeline)
    baked = bake(model, model_cfg, classes, template, dataset_name)
    created = not osp.isdir(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    stage = tempfile.mkdtemp(prefix=f'.{name}.', dir=out_dir)
    done = False
    try:
        staged = {s: osp.join(stage, name + s) for s in suffixes}
        with open(staged['.py'], 'w', encoding='utf-8') as file:
            file.write(exported_config_text(baked, plain_steps, header))
        checkpoint_meta = dict(meta or {})
        checkpoint_meta['dataset_meta'] = dict(classes=list(baked.classes))
        torch.save(
            dict(meta=checkpoint_meta, state_dict=baked.state_dict),
            staged['.pth'])

        if check_images:
            paths = list(check_images)
            what = check_description or f'{len(paths)} images'
        else:
            paths = _random_images(stage, num_check_images, _input_size(baked))
            what = f'{num_check_images} random images'
        source, _ = logits_on_images(model, test_pipeline, paths, 'mmprompt')
        plain = init_model(staged['.py'], staged['.pth'], device='cpu')
        exported, inputs = logits_on_images(plain, plain_steps, paths,
                                            'mmpretrain')
        max_diff = float((exported - source).abs().max())
        if not max_diff <= atol:
            raise ConfigError(
                f'the exported classifier differs from the mmprompt model by '
                f'up to {max_diff:.3g} in the logits on {what} (allowed: '
                f'{atol:g}); nothing was written. Report this as a bug, '
                'with the config.')
        onnx_diff = None
        if onnx:
            export_onnx(
                plain,
                inputs,
                staged['.onnx'],
                opset,
                dynamo,
                metadata=_onnx_metadata(baked, opset))
            onnx_diff = float(
                (onnx_logits(staged['.onnx'], inputs) - source).abs().max())
            if not onnx_diff <= atol:
                raise ConfigError(
                    f'the ONNX export (opset {opset}) differs from the '
                    f'mmprompt model by up to {onnx_diff:.3g} in the logits '
                    f'on {what} (allowed: {atol:g}); nothing was written. '
                    f'Try {_opset_hint("", opset)}.')
        for suffix in suffixes:
            os.replace(staged[suffix], final[suffix])
        done = True
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if created and not done and not os.listdir(out_dir):
            os.rmdir(out_dir)  # leave no trace of a failed export
    return ExportResult(
        config=final['.py'],
        checkpoint=final['.pth'],
        onnx=final.get('.onnx'),
        method=baked.method,
        classes=baked.classes,
        logit_scale=baked.logit_scale,
        check_images=what,
        max_diff=max_diff,
        onnx_max_diff=onnx_diff)


def _onnx_metadata(baked: BakedClassifier, opset: int) -> Dict[str, str]:
    pre = baked.model['data_preprocessor']
    return dict(
        classes=json.dumps(baked.classes),
        mean=json.dumps(pre.get('mean')),
        std=json.dumps(pre.get('std')),
        to_rgb=json.dumps(bool(pre.get('to_rgb', False))),
        input_size=json.dumps(list(_input_size(baked))),
        inputs=('float32 (B, 3, H, W): RGB pixels in 0-255, minus mean, '
                'divided by std (the data preprocessor of the exported '
                'config)'),
        exported_by='mmprompt tools/deployment/export_classifier.py',
        opset=str(opset))
