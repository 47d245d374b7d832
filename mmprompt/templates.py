# Copyright (c) mmprompt contributors. All rights reserved.
"""Hand-crafted prompt templates for zero-shot CLIP and prompt initialisation.

* :data:`COOP_TEMPLATES`: CoOp's one template per dataset (CoOp's
  ``trainers/zsclip.py``), keyed by CoOp's dataset names, which are also the
  ``dataset_name`` metainfo of mmprompt's ``CoOp*`` datasets.
* :data:`IMAGENET_TEMPLATES`: CLIP's 80 ImageNet templates (CLIP's
  ``notebooks/Prompt_Engineering_for_ImageNet.ipynb``).
* :data:`IMAGENET_TEMPLATES_SELECT`: the 7 of them CoOp ensembles
  (CoOp's ``trainers/imagenet_templates.py``).

A named set joined to a dataset with ``+`` (``'imagenet_select+EuroSAT'``,
or ``'imagenet_select+dataset'`` for the dataset a prompt learner is bound
to) is that set plus the dataset's own template, as CoOp's ``ZeroshotCLIP2``
ensembles on every dataset but ImageNet (see :func:`get_templates`).

Every template has exactly one ``{}`` for the class name.
"""
import re
from typing import Dict, List, Optional, Sequence, Union

from mmprompt.errors import ConfigError

COOP_TEMPLATES: Dict[str, str] = {
    'OxfordPets': 'a photo of a {}, a type of pet.',
    'OxfordFlowers': 'a photo of a {}, a type of flower.',
    'FGVCAircraft': 'a photo of a {}, a type of aircraft.',
    'DescribableTextures': '{} texture.',
    'EuroSAT': 'a centered satellite photo of {}.',
    'StanfordCars': 'a photo of a {}.',
    'Food101': 'a photo of {}, a type of food.',
    'SUN397': 'a photo of a {}.',
    'Caltech101': 'a photo of a {}.',
    'UCF101': 'a photo of a person doing {}.',
    'ImageNet': 'a photo of a {}.',
    # Domain-generalisation targets of ImageNet-trained prompts.
    'ImageNetV2': 'a photo of a {}.',
    'ImageNetSketch': 'a photo of a {}.',
    'ImageNetA': 'a photo of a {}.',
    'ImageNetR': 'a photo of a {}.',
}

IMAGENET_TEMPLATES: List[str] = [
    'a bad photo of a {}.',
    'a photo of many {}.',
    'a sculpture of a {}.',
    'a photo of the hard to see {}.',
    'a low resolution photo of the {}.',
    'a rendering of a {}.',
    'graffiti of a {}.',
    'a bad photo of the {}.',
    'a cropped photo of the {}.',
    'a tattoo of a {}.',
    'the embroidered {}.',
    'a photo of a hard to see {}.',
    'a bright photo of a {}.',
    'a photo of a clean {}.',
    'a photo of a dirty {}.',
    'a dark photo of the {}.',
    'a drawing of a {}.',
    'a photo of my {}.',
    'the plastic {}.',
    'a photo of the cool {}.',
    'a close-up photo of a {}.',
    'a black and white photo of the {}.',
    'a painting of the {}.',
    'a painting of a {}.',
    'a pixelated photo of the {}.',
    'a sculpture of the {}.',
    'a bright photo of the {}.',
    'a cropped photo of a {}.',
    'a plastic {}.',
    'a photo of the dirty {}.',
    'a jpeg corrupted photo of a {}.',
    'a blurry photo of the {}.',
    'a photo of the {}.',
    'a good photo of the {}.',
    'a rendering of the {}.',
    'a {} in a video game.',
    'a photo of one {}.',
    'a doodle of a {}.',
    'a close-up photo of the {}.',
    'a photo of a {}.',
    'the origami {}.',
    'the {} in a video game.',
    'a sketch of a {}.',
    'a doodle of the {}.',
    'a origami {}.',
    'a low resolution photo of a {}.',
    'the toy {}.',
    'a rendition of the {}.',
    'a photo of the clean {}.',
    'a photo of a large {}.',
    'a rendition of a {}.',
    'a photo of a nice {}.',
    'a photo of a weird {}.',
    'a blurry photo of a {}.',
    'a cartoon {}.',
    'art of a {}.',
    'a sketch of the {}.',
    'a embroidered {}.',
    'a pixelated photo of a {}.',
    'itap of the {}.',
    'a jpeg corrupted photo of the {}.',
    'a good photo of a {}.',
    'a plushie {}.',
    'a photo of the nice {}.',
    'a photo of the small {}.',
    'a photo of the weird {}.',
    'the cartoon {}.',
    'art of the {}.',
    'a drawing of the {}.',
    'a photo of the large {}.',
    'a black and white photo of a {}.',
    'the plushie {}.',
    'a dark photo of a {}.',
    'itap of a {}.',
    'graffiti of the {}.',
    'a toy {}.',
    'itap of my {}.',
    'a photo of a cool {}.',
    'a photo of a small {}.',
    'a tattoo of the {}.',
]

IMAGENET_TEMPLATES_SELECT: List[str] = [
    'itap of a {}.',
    'a bad photo of the {}.',
    'a origami {}.',
    'a photo of the large {}.',
    'a {} in a video game.',
    'art of the {}.',
    'a photo of the small {}.',
]

#: PromptSRC's 60 (its ``trainers/imagenet_templates.py``): ``'a photo of a
#: {}.'`` first, then the first 59 of CLIP's other 79 templates, in order.
PROMPTSRC_TEMPLATES: List[str] = ['a photo of a {}.'] + [
    t for t in IMAGENET_TEMPLATES if t != 'a photo of a {}.'
][:59]

#: Ensembles ``get_templates`` knows by name.
TEMPLATE_SETS: Dict[str, List[str]] = {
    'imagenet80': IMAGENET_TEMPLATES,
    'imagenet_select': IMAGENET_TEMPLATES_SELECT,
    'promptsrc60': PROMPTSRC_TEMPLATES,
}

#: Datasets to which ``'<set>+<dataset>'`` adds no template: the set is
#: already that dataset's ensemble (CoOp's ``ZeroshotCLIP2`` uses the 7
#: select templates alone on ImageNet, and its own template on every other
#: dataset, the ImageNet variants V2/Sketch/A/R included).
SET_ONLY_DATASETS = ('ImageNet', )

#: The placeholder for the bound dataset in ``'<set>+dataset'``.
DATASET_PLACEHOLDER = 'dataset'

#: Other spellings of dataset names (mmpretrain's and common short names).
_ALIASES: Dict[str, str] = {
    'dtd': 'DescribableTextures',
    'flowers102': 'OxfordFlowers',
    'oxfordflowers102': 'OxfordFlowers',
    'pets': 'OxfordPets',
    'oxfordiiitpet': 'OxfordPets',
    'aircraft': 'FGVCAircraft',
    'cars': 'StanfordCars',
    'caltech': 'Caltech101',
    'sun': 'SUN397',
    'ucf': 'UCF101',
}


def _normalise(name: str) -> str:
    """Lower-case a name and drop everything but letters and digits."""
    return re.sub(r'[^a-z0-9]', '', name.lower())


def _check_template(template: str) -> str:
    """Raise unless ``template`` is a string with exactly one ``{}``."""
    if not isinstance(template, str) or template.count('{}') != 1:
        raise ConfigError(
            f'A template must be a string with exactly one "{{}}" for the '
            f'class name, but got {template!r}.')
    return template


def _dataset_key(name: str) -> Optional[str]:
    """CoOp's name of a dataset name or alias, or None if unknown."""
    by_key = {_normalise(n): n for n in COOP_TEMPLATES}
    by_key.update(_ALIASES)
    return by_key.get(_normalise(name))


def _unknown(name: str) -> ConfigError:
    return ConfigError(
        f'Unknown template set {name!r}. Use one of {sorted(TEMPLATE_SETS)}, '
        f'a dataset name of {sorted(COOP_TEMPLATES)} (aliases: '
        f'{sorted(_ALIASES)}), a set joined to a dataset such as '
        "'imagenet_select+EuroSAT' or 'imagenet_select+dataset', a template "
        'with "{}" or a list of templates.')


def _set_plus_dataset(name: str, template: Optional[str],
                      dataset_name: Optional[str]) -> List[str]:
    """Resolve ``'<set>+<dataset>'`` (see :func:`get_templates`)."""
    set_part, _, data_part = (p.strip() for p in name.partition('+'))
    sets = {_normalise(n): n for n in TEMPLATE_SETS}
    if _normalise(set_part) not in sets:
        raise ConfigError(
            f'Template set {name!r}: {set_part!r} before "+" is not a named '
            f'set; use one of {sorted(TEMPLATE_SETS)}, e.g. '
            "'imagenet_select+dataset'.")
    templates = list(TEMPLATE_SETS[sets[_normalise(set_part)]])
    if _normalise(data_part) == DATASET_PLACEHOLDER:
        if dataset_name is not None and _dataset_key(dataset_name):
            dataset = _dataset_key(dataset_name)
        else:
            dataset = dataset_name
        if template is None and dataset in COOP_TEMPLATES:
            template = COOP_TEMPLATES[dataset]
        if template is None:
            raise ConfigError(
                f'Template set {name!r} adds the dataset\'s own template, but '
                'no dataset template is bound (the dataset has no '
                "'template' in its metainfo). Name the dataset instead, e.g. "
                f"'{set_part}+EuroSAT', or use {set_part!r} alone.")
    else:
        dataset = _dataset_key(data_part)
        if dataset is None:
            raise ConfigError(
                f'Template set {name!r}: {data_part!r} after "+" is not a '
                f'dataset; use {DATASET_PLACEHOLDER!r} (the bound dataset) '
                f'or one of {sorted(COOP_TEMPLATES)} (aliases: '
                f'{sorted(_ALIASES)}).')
        template = COOP_TEMPLATES[dataset]
    if dataset in SET_ONLY_DATASETS or template in templates:
        return templates
    return templates + [_check_template(template)]


def get_templates(name_or_list: Union[str, Sequence[str]],
                  template: Optional[str] = None,
                  dataset_name: Optional[str] = None) -> List[str]:
    """Resolve a template set from a name, a template or a list.

    Args:
        name_or_list (str | Sequence[str]): One of

            - ``'imagenet80'`` (CLIP's 80 templates), ``'imagenet_select'``
              (CoOp's 7) or ``'promptsrc60'`` (PromptSRC's 60);
            - a dataset name, CoOp's (``'DescribableTextures'``,
              ``'EuroSAT'``, ...) or an alias (``'dtd'``, ``'flowers102'``);
              case, ``_`` and ``-`` are ignored;
            - a named set ``+`` a dataset: the set followed by that
              dataset's own template, except on ImageNet (the set alone)
              and where the set already holds the template. With the 7
              select templates this is CoOp's ``ZeroshotCLIP2``:
              ``'imagenet_select+EuroSAT'`` gives 8 templates,
              ``'imagenet_select+ImageNet'`` the 7. ``'<set>+dataset'``
              takes the dataset from ``template`` / ``dataset_name``;
            - a single template such as ``'a photo of a {}.'``;
            - a list of templates.
        template (str, optional): The bound dataset's own template, for
            ``'<set>+dataset'``. Defaults to None.
        dataset_name (str, optional): The bound dataset's CoOp name, for
            ``'<set>+dataset'`` (``'ImageNet'`` adds no template; without
            it ``template`` is added). Defaults to None.

    Returns:
        list[str]: The templates, each with one ``{}``.

    Raises:
        ConfigError: For an unknown name (the message lists the valid ones)
            or a template without exactly one ``{}``.

    Examples:
        >>> get_templates('dtd')
        ['{} texture.']
        >>> len(get_templates('imagenet80'))
        80
        >>> get_templates('imagenet_select+dtd')[-1]
        '{} texture.'
        >>> len(get_templates('imagenet_select+ImageNet'))
        7
    """
    if isinstance(name_or_list, str):
        key = _normalise(name_or_list)
        for set_name, templates in TEMPLATE_SETS.items():
            if key == _normalise(set_name):
                return list(templates)
        dataset = _dataset_key(name_or_list)
        if dataset is not None:
            return [COOP_TEMPLATES[dataset]]
        if '{}' in name_or_list:
            return [_check_template(name_or_list)]
        if '+' in name_or_list:
            return _set_plus_dataset(name_or_list, template, dataset_name)
        raise _unknown(name_or_list)
    if isinstance(name_or_list, Sequence) and len(name_or_list) > 0:
        return [_check_template(t) for t in name_or_list]
    raise ConfigError('get_templates expects a name, a template or a '
                      f'non-empty list of templates, but got '
                      f'{name_or_list!r}.')
