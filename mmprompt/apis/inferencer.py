# Copyright (c) mmprompt contributors. All rights reserved.
"""Classify your own images with any list of class names.

:class:`PromptClassificationInferencer` is mmpretrain's
``ImageClassificationInferencer`` for prompt-learning models: it builds the
model of a config, loads a prompt checkpoint (which holds only the trained
prompts; the frozen CLIP towers come from the config's weights), runs the
config's test pipeline and data preprocessor, and scores each image against
the text features of the class names it is given. Because the classes are
text, a checkpoint trained on some classes classifies any other list: the
learned context is combined with the new names (the open-vocabulary point of
prompt learning).
"""
import copy
import math
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmpretrain.apis.base import BaseInferencer
from mmpretrain.structures import DataSample

from mmprompt.errors import (CheckpointError, ConfigError, DataError,
                             MMPromptError, PathNotFoundError)

__all__ = [
    'PromptClassificationInferencer', 'check_classes', 'check_template',
    'check_topk', 'collect_inputs', 'draw_predictions', 'uses_template',
    'DEFAULT_TEMPLATE', 'DEFAULT_TOPK'
]

#: The template of hand-crafted prompts when neither the caller nor the
#: config's test dataset names one (CoOp's generic template).
DEFAULT_TEMPLATE = 'a photo of a {}.'
#: Predictions returned per image when ``topk`` is not given (fewer when
#: there are fewer classes).
DEFAULT_TOPK = 5
#: Drawn images are enlarged by a whole factor until their short side has
#: at least this many pixels, so the text fits on small images.
DRAW_MIN_SIDE = 256

InputType = Union[str, os.PathLike, np.ndarray]


# ---------------------------------------------------------------------------
# Checks of what the caller gives
# ---------------------------------------------------------------------------
def _prompt_key(name: str) -> str:
    """What a class name becomes in a prompt, as CLIP's tokenizer sees it
    (``_`` is a space, case and repeated spaces do not count)."""
    return ' '.join(name.replace('_', ' ').lower().split())


def check_classes(classes: Any, source: str = 'classes') -> List[str]:
    """Check a list of class names.

    Args:
        classes (Sequence[str]): The class names, in label order.
        source (str): How the caller named them, for the message (e.g.
            ``'--classes'``). Defaults to 'classes'.

    Returns:
        list[str]: The names.

    Raises:
        ConfigError: The list is empty or no sequence of strings, a name is
            empty, or two names give the same prompt.
    """
    if isinstance(classes, str) or not isinstance(classes, Sequence):
        raise ConfigError(f'{source} must be a list of class names, e.g. '
                          f"['banded', 'striped'], but got {classes!r}.")
    classes = list(classes)
    if not classes:
        raise ConfigError(
            f'{source} is empty: give the names of the classes to choose '
            "from, e.g. ['banded', 'striped', 'zigzagged'].")
    for i, name in enumerate(classes, 1):
        if not isinstance(name, str):
            raise ConfigError(
                f'{source}: class {i} is {name!r} ({type(name).__name__}); '
                'class names must be strings.')
        if not name.strip():
            raise ConfigError(
                f'{source}: class {i} of {len(classes)} is empty '
                f'({name!r}); remove it or write its name.')
    seen: Dict[str, int] = {}
    for i, name in enumerate(classes, 1):
        key = _prompt_key(name)
        if key in seen:
            first = classes[seen[key] - 1]
            same = 'repeats it' if first == name else (
                'writes the same prompt (CLIP lower-cases text, and "_" is '
                'written as a space)')
            raise ConfigError(
                f'{source}: class {i} {name!r} {same} of class {seen[key]} '
                f'{first!r}; two such classes cannot be told apart. Give '
                'each class once.')
        seen[key] = i
    return classes


def check_template(template: Any, source: str = 'template') -> str:
    """Check a prompt template such as ``'a photo of a {}.'``.

    Args:
        template (str): The template; ``{}`` is where the class name goes.
        source (str): How the caller named it, for the message. Defaults to
            'template'.

    Returns:
        str: The template.

    Raises:
        ConfigError: It is no string, or has not exactly one ``{}``.
    """
    if not isinstance(template, str):
        raise ConfigError(f'{source} must be a string such as '
                          f"'a photo of a {{}}.', got {template!r}.")
    count = template.count('{}')
    if count != 1:
        what = 'has no "{}"' if count == 0 else f'has {count} "{{}}"'
        raise ConfigError(
            f'{source} {template!r} {what}: a template needs exactly one '
            '"{}" where the class name goes, e.g. \'a photo of a {}.\' or '
            "'{} texture.'.")
    try:
        template.format('x')
    except (IndexError, KeyError, ValueError) as err:
        raise ConfigError(
            f'{source} {template!r} is not a valid format string ({err}); '
            'write literal braces as "{{" and "}}".') from err
    return template


def check_topk(topk: Any, num_classes: int, source: str = 'topk') -> int:
    """Check the number of predictions per image.

    Args:
        topk (int, optional): Predictions per image; None for
            :data:`DEFAULT_TOPK` (or all classes, when there are fewer).
        num_classes (int): The number of classes to choose from.
        source (str): How the caller named it, for the message. Defaults to
            'topk'.

    Returns:
        int: The number of predictions per image.

    Raises:
        ConfigError: ``topk`` is no int, below 1 or above ``num_classes``.
    """
    if topk is None:
        return min(DEFAULT_TOPK, num_classes)
    # '--topk 3' on a command line, 'topk=3' in Python
    sep = ' ' if source.startswith('-') else '='
    given = f'{source}{sep}{topk}'
    if isinstance(topk, bool) or not isinstance(topk, (int, np.integer)):
        raise ConfigError(f'{source} must be an int, got {topk!r}.')
    if topk < 1:
        raise ConfigError(
            f'{given} asks for no prediction: give 1 or more (at '
            f'most the {num_classes} classes).')
    if topk > num_classes:
        raise ConfigError(
            f'{given} is more than the {num_classes} classes given; '
            f'use {source}{sep}{num_classes} or fewer, or give more '
            'classes.')
    return int(topk)


def uses_template(prompt_learner) -> bool:
    """Whether a prompt learner writes the bound template into its prompts.

    Only hand-crafted prompts do, and only when their config takes the
    dataset's template (``templates='dataset'`` or ``'<set>+dataset'``);
    learned contexts (CoOp, MaPLe, ...) and fixed template sets ignore it.

    Args:
        prompt_learner (nn.Module): The head's prompt learner.

    Returns:
        bool: Whether a template changes its class texts.
    """
    from mmprompt.models.prompt_learners import HandcraftedPrompts
    if not isinstance(prompt_learner, HandcraftedPrompts):
        return False
    templates = prompt_learner.templates
    if not isinstance(templates, str):
        return False
    return templates == 'dataset' or ('+' in templates and templates.rsplit(
        '+', 1)[1].strip().lower() == 'dataset')


# ---------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------
def draw_predictions(image: np.ndarray,
                     lines: Sequence[str],
                     min_side: int = DRAW_MIN_SIDE) -> np.ndarray:
    """Draw text lines (the top-k predictions) onto an image.

    The image is enlarged by the smallest whole factor that makes its short
    side at least ``min_side`` pixels (nearest neighbour, so the pixels stay
    visible; larger images keep their size), and the lines are written in
    white on a dark band in its top-left corner.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB image.
        lines (Sequence[str]): The text, one line each.
        min_side (int): See above. Defaults to :data:`DRAW_MIN_SIDE`.

    Returns:
        np.ndarray: The drawn ``(H * f, W * f, 3)`` uint8 RGB image, with
        ``f = max(1, ceil(min_side / min(H, W)))``.
    """
    from PIL import Image, ImageDraw, ImageFont
    height, width = image.shape[:2]
    factor = max(1, math.ceil(min_side / max(1, min(height, width))))
    canvas = Image.fromarray(np.ascontiguousarray(image)).convert('RGBA')
    if factor > 1:
        canvas = canvas.resize((width * factor, height * factor),
                               Image.NEAREST)
    size = max(8, round(min(canvas.size) / 16))
    font = ImageFont.load_default(size=size)
    overlay = Image.new('RGBA', canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    pad = max(2, size // 3)
    # Shrink the font until the longest line fits the width.
    while size > 8:
        widest = max(draw.textlength(line, font=font) for line in lines)
        if widest + 3 * pad <= canvas.size[0]:
            break
        size -= 1
        font = ImageFont.load_default(size=size)
    widest = max(draw.textlength(line, font=font) for line in lines)
    step = round(size * 1.25)
    draw.rectangle((pad, pad, pad * 2 + widest, pad * 2 + step * len(lines)),
                   fill=(0, 0, 0, 160))
    for i, line in enumerate(lines):
        draw.text((pad * 1.5, pad * 1.5 + i * step),
                  line,
                  font=font,
                  fill=(255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(canvas, overlay).convert('RGB'))


# ---------------------------------------------------------------------------
# The inferencer
# ---------------------------------------------------------------------------
def _is_path(item: Any) -> bool:
    return isinstance(item, (str, os.PathLike))


def _image_files(folder: str) -> List[str]:
    """The image files directly in a folder, sorted by name."""
    from mmprompt.datasets.transforms import IMG_EXTENSIONS
    files = sorted(
        osp.join(folder, name) for name in os.listdir(folder)
        if name.lower().endswith(IMG_EXTENSIONS)
        and osp.isfile(osp.join(folder, name)))
    if not files:
        raise DataError(
            f"folder '{folder}' holds no image file (none ends with "
            f"{', '.join(IMG_EXTENSIONS)}); give image files or a folder "
            'with images.')
    return files


def collect_inputs(inputs: Any) -> list:
    """Check the images to classify and list them.

    Args:
        inputs (str | np.ndarray | list): Image paths, folders (their image
            files, sorted by name), ``(H, W, 3)`` uint8 BGR arrays (``(H,
            W)`` grey ones are repeated to 3 channels), or a list of them.

    Returns:
        list: Paths (str) and ``(H, W, 3)`` arrays.

    Raises:
        PathNotFoundError: A path does not exist.
        DataError: No image, a folder without images, or an array of
            another shape or dtype.
    """
    if _is_path(inputs) or isinstance(inputs, np.ndarray):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)):
        raise DataError(
            'Images must be paths, (H, W, 3) uint8 BGR arrays or a list '
            f'of them, got {type(inputs).__name__}.')
    if not inputs:
        raise DataError('No images given: pass image paths or arrays.')
    items = []
    for i, item in enumerate(inputs):
        if _is_path(item):
            path = os.fspath(item)
            if osp.isdir(path):
                items.extend(_image_files(path))
            elif not osp.isfile(path):
                raise PathNotFoundError(
                    f"image '{path}' does not exist. Check the path "
                    '(relative paths start at the current folder, '
                    f'{os.getcwd()}).')
            else:
                items.append(path)
        elif isinstance(item, np.ndarray):
            items.append(_check_array(item, i))
        else:
            raise DataError(
                f'Image {i} is a {type(item).__name__}; give a path or '
                'an (H, W, 3) uint8 BGR numpy array.')
    return items


def _check_array(array: np.ndarray, index: int) -> np.ndarray:
    """An image array as (H, W, 3) uint8, or a DataError naming it."""
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3 or min(array.shape[:2]) < 1:
        raise DataError(
            f'Image {index} is an array of shape {array.shape}; give '
            '(H, W, 3) BGR pixels (or (H, W) grey), e.g. '
            "mmcv.imread(path) or np.asarray(pil_image.convert('RGB'))"
            '[..., ::-1].')
    if array.dtype != np.uint8:
        raise DataError(
            f'Image {index} is a {array.dtype} array; give uint8 pixels '
            '(0-255), e.g. (array * 255).round().astype(np.uint8) for '
            'values in [0, 1].')
    return np.ascontiguousarray(array)


class PromptClassificationInferencer(BaseInferencer):
    """Classify images among any class names with a prompt-learning model.

    mmpretrain's ``ImageClassificationInferencer`` for mmprompt's models:
    the model is built from a config, a checkpoint (optional for zero-shot
    CLIP) is loaded into it, and each image goes through the config's test
    pipeline (``cfg.test_dataloader.dataset.pipeline``, its loading step
    applied to paths only) and the model's data preprocessor. The class
    names are bound to the prompt head as ``SetClassNamesHook`` binds a
    dataset's, so the scores are those of ``model.test_step``: the softmax
    over the given classes of CLIP's scaled cosine logits.

    Text prompts (zero-shot CLIP, CoOp, KgCoOp, CoCoOp, meta-trained
    prompts) and deep vision-language prompts (MaPLe, IVLP, VPT-deep, DAPT,
    PromptSRC) classify any class list: their learned context is combined
    with whatever names are given. Instance-wise prompts (one prompt per
    training image) and class-specific CoOp contexts classify only the
    classes they were trained on, and a linear probe is no prompt model;
    these raise a :class:`~mmprompt.errors.ConfigError` that says so.

    Args:
        model (str | Config): The config file (or a loaded config) of a
            prompt-learning classifier.
        checkpoint (str, optional): A checkpoint its training wrote
            (``work_dirs/<run>/epoch_N.pth``). Checked as ``tools/test.py``
            checks one: it must hold the weights this model trains and
            nothing else. Defaults to None (zero-shot configs).
        classes (Sequence[str], optional): The class names to choose from,
            in label order; a call may give others. Defaults to the classes
            the checkpoint was trained on when it records them (mmengine's
            runner does), else they must be given to each call.
        template (str, optional): The template of hand-crafted prompts, e.g.
            ``'a photo of a {}.'`` (zero-shot configs with
            ``templates='dataset'``; any other prompt learner refuses it, as
            it would change nothing). Defaults to the template of the
            config's test dataset (``'{} texture.'`` for DTD), else
            :data:`DEFAULT_TEMPLATE`.
        device (str | torch.device, optional): Where to run. Defaults to
            ``'cuda'`` when available, else ``'cpu'``.
        untrained (bool): Allow a config that trains prompts to run without
            a checkpoint, with its initial prompts. Defaults to False (an
            error, as in ``tools/test.py``).
        cfg_options (Sequence[str], optional): ``key=value`` overrides of
            the config, checked as ``tools/test.py --cfg-options`` checks
            them. Defaults to None.

    Examples:
        >>> from mmprompt.apis import PromptClassificationInferencer
        >>> inferencer = PromptClassificationInferencer(  # doctest: +SKIP
        ...     'configs/coop/coop_tinyclip_procdtd.py',
        ...     checkpoint='work_dirs/classify_coop/epoch_50.pth')
        >>> result = inferencer(  # doctest: +SKIP
        ...     'data/procdtd/images/banded/banded_40.png',
        ...     classes=['banded', 'striped', 'zigzagged'], topk=2)[0]
        >>> result['pred_class'], result['topk_classes']  # doctest: +SKIP
        ('banded', ['banded', 'striped'])
    """

    def __init__(self,
                 model: Union[str, os.PathLike, Config],
                 checkpoint: Optional[str] = None,
                 classes: Optional[Sequence[str]] = None,
                 template: Optional[str] = None,
                 device: Union[str, torch.device, None] = None,
                 untrained: bool = False,
                 cfg_options: Optional[Sequence[str]] = None) -> None:
        from mmengine.registry import init_default_scope

        from mmprompt.cli import (check_checkpoint, explain_errors,
                                  load_config, merge_cfg_options)
        from mmprompt.registry import MODELS

        if _is_path(model):
            self.config_path = os.fspath(model)
            cfg = load_config(self.config_path)
        elif isinstance(model, Config):
            cfg = copy.deepcopy(model)
            self.config_path = cfg.filename or '(the given Config)'
        else:
            raise ConfigError(
                'PromptClassificationInferencer takes a config file or an '
                f'mmengine Config, got {type(model).__name__}.')
        cfg = merge_cfg_options(cfg, cfg_options)
        self.classes = None if classes is None else check_classes(classes)
        self.user_template = None if template is None else check_template(
            template)
        check_checkpoint(checkpoint, 'the checkpoint')
        self._check_prompt_head_type(cfg)
        # A file that is no checkpoint fails before the model is built.
        loaded = None if checkpoint is None else _read_checkpoint(checkpoint)
        init_default_scope(cfg.get('default_scope', 'mmprompt'))
        with explain_errors(cfg):
            built = MODELS.build(cfg.model)
        self._check_prompt_model(built)

        self.checkpoint = checkpoint
        self.checkpoint_classes = None
        if loaded is not None:
            self.checkpoint_classes = self._load_checkpoint(
                built, loaded, checkpoint)
        elif not untrained:
            self._check_nothing_to_load(built)
        if self.classes is None and self.checkpoint_classes is not None:
            self.classes = list(self.checkpoint_classes)

        if device is None:
            device = 'cuda' if torch.cuda.is_available() else 'cpu'
        built._config = cfg  # BaseInferencer reads the config from here
        self._dataset_template, self._dataset_name = _dataset_template(cfg)
        super().__init__(model=built, pretrained=False, device=device)
        from mmprompt.engine.hooks.checkpoint_check import describe_method
        self.method = describe_method(self.model)
        if self.user_template is not None:
            self._check_template_used(self.user_template)
        #: The template bound with the classes (also for learners that
        #: ignore it, e.g. KgCoOp's training targets).
        self.template = self.user_template or self._dataset_template

    # -- building -----------------------------------------------------------
    @property
    def head(self):
        """The model's prompt head."""
        return self.model.head

    @property
    def config_name(self) -> str:
        return osp.basename(self.config_path)

    def _not_a_prompt_model(self, what: str) -> ConfigError:
        return ConfigError(
            f'{self.config_path} is not a prompt-learning classifier: {what}. '
            'Only a prompt head (a PromptClsHead: zero-shot CLIP, CoOp, '
            'MaPLe, ...) scores images against class names, so only such a '
            'config classifies a class list of your choice; a linear head '
            'knows only the classes it was trained on (test it with '
            'tools/test.py). Use e.g. configs/zeroshot/'
            'clip_tinyclip_procdtd.py or configs/coop/coop_tinyclip_procdtd'
            '.py.')

    def _check_prompt_head_type(self, cfg: Config) -> None:
        """Refuse a config whose head is no prompt head, before building."""
        from mmprompt.models.heads import PromptClsHead
        from mmprompt.registry import MODELS
        model_cfg = cfg.get('model')
        if not isinstance(model_cfg, dict):
            raise self._not_a_prompt_model('it has no `model`')
        head_cfg = model_cfg.get('head')
        if not isinstance(head_cfg, dict):
            raise self._not_a_prompt_model(
                f"its model {model_cfg.get('type')} has no `head`")
        head_type = head_cfg.get('type')
        head_cls = MODELS.get(head_type) if isinstance(head_type,
                                                       str) else head_type
        if isinstance(head_cls,
                      type) and not issubclass(head_cls, PromptClsHead):
            raise self._not_a_prompt_model(
                f'its model.head is {head_cls.__name__}, not a prompt head')

    def _check_prompt_model(self, model) -> None:
        from mmprompt.models.heads import PromptClsHead
        head = getattr(model, 'head', None)
        if not isinstance(head, PromptClsHead):
            raise self._not_a_prompt_model(
                f'its model {type(model).__name__} has head '
                f'{type(head).__name__}, not a prompt head')

    def _check_nothing_to_load(self, model) -> None:
        trained = [n for n, p in model.named_parameters() if p.requires_grad]
        if trained:
            shown = ', '.join(repr(n) for n in trained[:3])
            more = ' ...' if len(trained) > 3 else ''
            raise ConfigError(
                f'{self.config_path} trains {len(trained)} parameter '
                f'tensor(s) ({shown}{more}), but no checkpoint was given, so '
                'the predictions would come from their untrained initial '
                'values. Give the checkpoint its training wrote (checkpoint='
                'work_dirs/<run>/epoch_N.pth, --checkpoint in '
                'tools/classify.py), or untrained=True (--untrained) to '
                'classify with the initial prompts. Zero-shot configs need no '
                'checkpoint.')

    def _load_checkpoint(self, model, checkpoint: dict,
                         path: str) -> Optional[List[str]]:
        """Load a read checkpoint; return the classes it was trained on.

        Raises:
            CheckpointError: Its weights do not fit the model (another
                method, other prompt shapes).
        """
        from mmprompt.engine.hooks.checkpoint_check import \
            check_checkpoint_fits
        try:
            # Loads the state dict (non-strictly, frozen towers excepted)
            # and raises if a trained weight is missing or a key is foreign.
            check_checkpoint_fits(model, checkpoint, path, self.config_path)
        except CheckpointError as err:
            message = str(err)
            cut = message.find(' Test it with the config it was trained')
            if cut >= 0:
                message = message[:cut] + (
                    ' Classify with the config it was trained with '
                    '(--config), or give a checkpoint of this config.')
            raise CheckpointError(message) from err
        meta = checkpoint.get('meta') if 'state_dict' in checkpoint else None
        classes = ((meta or {}).get('dataset_meta') or {}).get('classes')
        return None if classes is None else [str(c) for c in classes]

    def _init_pipeline(self, cfg: Config) -> Compose:
        """The test pipeline without its loading step (kept for paths)."""
        from mmcv.transforms import LoadImageFromFile

        from mmprompt.datasets.transforms import LoadCoOpImage
        from mmprompt.registry import TRANSFORMS
        loader = cfg.get('test_dataloader') or {}
        pipeline = (loader.get('dataset') or {}).get('pipeline')
        if not pipeline:
            raise ConfigError(
                f'{self.config_path} has no test pipeline '
                '(test_dataloader.dataset.pipeline), which says how images '
                'are resized and cropped for the model; use a config with a '
                'test_dataloader, such as the configs/*/ leaves.')
        transforms = [TRANSFORMS.build(t) for t in pipeline]
        self._loader = LoadCoOpImage()
        if transforms and isinstance(transforms[0],
                                     (LoadCoOpImage, LoadImageFromFile)):
            self._loader = transforms.pop(0)
        return Compose(transforms)

    def _check_template_used(self, template: str) -> None:
        learner = self.head.prompt_learner
        if uses_template(learner):
            return
        from mmprompt.models.prompt_learners import HandcraftedPrompts
        if isinstance(learner, HandcraftedPrompts):
            why = (f'its HandcraftedPrompts use the fixed templates '
                   f'{learner.templates!r} of the config '
                   "(model.head.prompt_learner.templates; 'dataset' takes "
                   'yours)')
        else:
            why = (f'its prompt learner {type(learner).__name__} learns the '
                   'words around the class name, so no hand-written template '
                   'enters its prompts')
        raise ConfigError(
            f'template {template!r} would change nothing with '
            f'{self.config_path}: {why}. Leave the template out, or try '
            'templates with a zero-shot config such as '
            'configs/zeroshot/clip_tinyclip_procdtd.py.')

    # -- binding ------------------------------------------------------------
    def bind_classes(self,
                     classes: Optional[Sequence[str]] = None,
                     template: Optional[str] = None) -> List[str]:
        """Bind class names (and a template) to the prompt head.

        Args:
            classes (Sequence[str], optional): The class names; defaults to
                those given when the inferencer was built.
            template (str, optional): A template for this binding; defaults
                to :attr:`template`.

        Returns:
            list[str]: The bound class names.

        Raises:
            ConfigError: No or bad class names or template, or a model that
                cannot classify these classes.
        """
        from mmprompt.models.heads import InstancePromptHead
        if classes is None:
            classes = self.classes
        if classes is None:
            raise ConfigError(
                'No class names: pass classes=[...] (tools/classify.py '
                '--classes "a,b,c" or --classes-file FILE); the names are '
                'what the images are classified among.')
        classes = check_classes(classes)
        if template is not None:
            self._check_template_used(check_template(template))
        else:
            template = self.template
        head = self.head
        if isinstance(head, InstancePromptHead):
            self._check_instance_classes(classes)
        try:
            head.set_class_names(
                classes, template=template, dataset_name=self._dataset_name)
        except (MMPromptError, ValueError, TypeError, RuntimeError) as err:
            raise ConfigError(
                f'{self.config_name} ({self.method}) cannot classify the '
                f'{len(classes)} given classes: {err}') from err
        return classes

    def _check_instance_classes(self, classes: List[str]) -> None:
        """Instance-wise prompts score only their training classes."""
        count = self.head.prompt_learner.num_train_classes
        trained = self.checkpoint_classes
        if len(classes) == count and (trained is None or classes == trained):
            return
        listed = f': {", ".join(trained)}' if trained else ''
        raise ConfigError(
            f'{self.config_name} (instance-wise prompts, '
            f'{type(self.head).__name__}) classifies only the {count} '
            'classes it was trained on: each of its prompts belongs to one '
            'training image of one class, so it cannot score other classes '
            f'({len(classes)} given). Give exactly those classes in their '
            'training order (without classes, a checkpoint\'s are used)'
            f'{listed}. For classes of your choice, use a method whose '
            'prompts do not depend on the class, e.g. CoOp or MaPLe.')

    # -- inputs -------------------------------------------------------------
    def _inputs_to_list(self, inputs: Any) -> list:
        """Paths (a folder: its images) and arrays, checked
        (:func:`collect_inputs`)."""
        return collect_inputs(inputs)

    def _load(self, item) -> dict:
        """The pipeline's input dict of one path or BGR array."""
        if isinstance(item, np.ndarray):
            return dict(
                img=item, img_shape=item.shape[:2], ori_shape=item.shape[:2])
        try:
            return self._loader(dict(img_path=item))
        except DataError as err:
            reason = getattr(err, 'reason', None) or str(err)
            raise DataError(
                f"cannot decode image '{item}' ({reason}); it is truncated, "
                'corrupt or not an image. Give image files PIL can read '
                '(PNG, JPEG, ...).') from err

    def preprocess(self, inputs: list, batch_size: int = 1):
        """Batches of pipeline outputs, collated as the test loop does.

        Args:
            inputs (list): Checked paths and arrays.
            batch_size (int): Images per model call. Defaults to 1.

        Yields:
            dict: ``inputs`` and ``data_samples`` for ``model.test_step``.
        """
        data = (self.pipeline(self._load(item)) for item in inputs)
        yield from map(pseudo_collate, self._get_chunk_data(data, batch_size))

    # -- outputs ------------------------------------------------------------
    def postprocess(self,
                    preds: List[DataSample],
                    visualization=None,
                    return_datasamples: bool = False,
                    classes: Sequence[str] = (),
                    topk: int = 1,
                    inputs: Sequence = ()) -> list:
        """Results as mmpretrain's inferencer returns them, plus the top-k.

        Returns:
            list[dict] | list[DataSample]: Per image: ``pred_label`` (int),
            ``pred_score`` (float), ``pred_class`` (str) of the best class,
            ``pred_scores`` (``(num_classes, )`` softmax probabilities),
            ``topk_labels``, ``topk_scores`` and ``topk_classes`` (best
            first), and ``img_path`` (None for an array).
        """
        if return_datasamples:
            return preds
        results = []
        for i, sample in enumerate(preds):
            scores = sample.pred_score.detach().float().cpu()
            top = torch.topk(scores, topk)
            labels = [int(j) for j in top.indices]
            item = inputs[i] if i < len(inputs) else None
            results.append(
                dict(
                    pred_label=labels[0],
                    pred_score=float(top.values[0]),
                    pred_class=classes[labels[0]],
                    pred_scores=scores.numpy(),
                    topk_labels=labels,
                    topk_scores=[float(s) for s in top.values],
                    topk_classes=[classes[j] for j in labels],
                    img_path=item if isinstance(item, str) else None))
        return results

    @staticmethod
    def plan_out_files(inputs: Sequence, out_dir: str) -> List[str]:
        """The file each drawn image is written to.

        ``<out_dir>/<image name>.png`` (``array_<i>.png`` for arrays;
        ``_2``, ``_3``, ... for repeated names).

        Raises:
            ConfigError: ``out_dir`` is a file, or a drawing would replace
                one of the input images.
        """
        if osp.exists(out_dir) and not osp.isdir(out_dir):
            raise ConfigError(
                f"out_dir '{out_dir}' is a file, not a folder; give a folder "
                '(it is created when missing).')
        sources = {
            osp.realpath(item)
            for item in inputs if isinstance(item, str)
        }
        used, files = set(), []
        for i, item in enumerate(inputs):
            stem = osp.splitext(osp.basename(item))[0] if isinstance(
                item, str) else f'array_{i}'
            name, n = f'{stem}.png', 1
            while name in used:
                n += 1
                name = f'{stem}_{n}.png'
            used.add(name)
            path = osp.join(out_dir, name)
            if osp.realpath(path) in sources:
                raise ConfigError(
                    f"out_dir '{out_dir}': the drawing of '{item}' would be "
                    f"written to '{path}', which is one of the input images. "
                    'Inputs are never overwritten: give another out_dir '
                    '(--out-dir), e.g. work_dirs/classify.')
            files.append(path)
        return files

    def visualize(self, inputs: Sequence, results: List[dict],
                  out_files: Sequence[str]) -> List[str]:
        """Write each image with its top-k predictions drawn on it.

        Args:
            inputs (Sequence): The checked paths and BGR arrays.
            results (list[dict]): What :meth:`postprocess` returned.
            out_files (Sequence[str]): Where to write them
                (:meth:`plan_out_files`).

        Returns:
            list[str]: ``out_files``.
        """
        from PIL import Image
        for item, result, path in zip(inputs, results, out_files):
            bgr = item if isinstance(item,
                                     np.ndarray) else self._load(item)['img']
            lines = [
                f'{rank}. {name} {score:.2f}'
                for rank, (name, score) in enumerate(
                    zip(result['topk_classes'], result['topk_scores']), 1)
            ]
            drawn = draw_predictions(bgr[..., ::-1], lines)
            folder = osp.dirname(path)
            if folder:
                os.makedirs(folder, exist_ok=True)
            Image.fromarray(drawn).save(path)
            result['out_file'] = path
        return list(out_files)

    def __call__(self,
                 inputs: Union[InputType, Sequence[InputType]],
                 classes: Optional[Sequence[str]] = None,
                 template: Optional[str] = None,
                 topk: Optional[int] = None,
                 batch_size: int = 1,
                 out_dir: Optional[str] = None,
                 return_datasamples: bool = False) -> list:
        """Classify images.

        Args:
            inputs (str | np.ndarray | list): Image paths (a folder stands
                for the images in it), ``(H, W, 3)`` uint8 arrays in **BGR**
                order (as ``mmcv.imread`` returns them; from PIL or
                matplotlib, reverse the channels: ``rgb[..., ::-1]``), or a
                list of them.
            classes (Sequence[str], optional): The class names for this
                call. Defaults to those of the inferencer.
            template (str, optional): A template for this call (zero-shot
                configs). Defaults to :attr:`template`.
            topk (int, optional): Predictions per image, at most the number
                of classes. Defaults to :data:`DEFAULT_TOPK` or the number
                of classes when fewer.
            batch_size (int): Images per model call. Defaults to 1.
            out_dir (str, optional): Write each image with its predictions
                drawn on it to this folder (see :meth:`plan_out_files`);
                the results get an ``out_file`` entry. Defaults to None.
            return_datasamples (bool): Return mmpretrain's ``DataSample`` s
                instead of dicts. Defaults to False.

        Returns:
            list[dict] | list[DataSample]: One per image, see
            :meth:`postprocess`.
        """
        classes = self.bind_classes(classes, template)
        topk = check_topk(topk, len(classes))
        if isinstance(
                batch_size,
                bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(
                f'batch_size must be a positive int, got {batch_size!r}.')
        items = self._inputs_to_list(inputs)
        out_files = None if out_dir is None else self.plan_out_files(
            items, out_dir)
        preds = []
        for data in self.preprocess(items, batch_size=batch_size):
            preds.extend(self.forward(data))
        if return_datasamples:
            return preds
        results = self.postprocess(
            preds, classes=classes, topk=topk, inputs=items)
        if out_files is not None:
            self.visualize(items, results, out_files)
        return results


def _read_checkpoint(path: str) -> dict:
    """Read a checkpoint file (a training checkpoint or a state dict).

    Raises:
        CheckpointError: The file is empty, truncated or no checkpoint.
    """
    from mmengine.runner.checkpoint import _load_checkpoint
    checkpoint = _load_checkpoint(path, map_location='cpu', logger='current')
    if not isinstance(checkpoint, dict):
        raise CheckpointError(
            f'Checkpoint {path} holds a {type(checkpoint).__name__}, not a '
            'state dict or a training checkpoint; give an epoch_N.pth that '
            'tools/train.py wrote.')
    return checkpoint


def _dataset_template(cfg: Config):
    """The template and CoOp name of the config's test dataset class, or
    (:data:`DEFAULT_TEMPLATE`, None)."""
    from mmprompt.registry import DATASETS
    loader = cfg.get('test_dataloader') or {}
    dataset = loader.get('dataset') or {}
    kind = dataset.get('type')
    try:
        cls = DATASETS.get(kind) if isinstance(kind, str) else kind
    except Exception:  # an unknown type: no template to take
        cls = None
    template = getattr(cls, 'TEMPLATE', None)
    if not isinstance(template, str) or template.count('{}') != 1:
        return DEFAULT_TEMPLATE, None
    name = getattr(cls, 'DATASET_NAME', None) or getattr(cls, '__name__')
    return template, name
