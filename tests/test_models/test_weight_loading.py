# Copyright (c) mmprompt contributors. All rights reserved.
"""``pretrained=<file>``: the CLIP weight files users have load exactly.

The files are written by the tests from a random tiny CLIP: OpenAI's
TorchScript archive (what CoOp keeps in ``~/.cache/clip/``), a state dict in
OpenAI's key layout (partly fp16, with OpenAI's non-weight entries), an
open_clip training checkpoint (``{'state_dict': {'module.' ...}}``), a
``.safetensors`` file and a ``.bin`` file in open_clip's CustomTextCLIP
layout. Bad files give one :class:`WeightsError` naming the file.
"""
import argparse
import copy
import logging
import os
import os.path as osp
import re

import open_clip
import pytest
import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from safetensors.torch import save_file

from mmprompt.errors import PathNotFoundError, WeightsError
from mmprompt.models import (TINY_MODEL, TINYCLIP_MODEL, OpenCLIPImageEncoder,
                             OpenCLIPTextEncoder, build_open_clip,
                             resolve_pretrained)
from mmprompt.models.clip.weights import (OPENAI_EXTRA_KEYS,
                                          is_torchscript_archive,
                                          read_pretrained_file)

#: The tests write TorchScript files with torch's deprecated jit API.
pytestmark = pytest.mark.filterwarnings(
    'ignore:.*torch.jit.* is deprecated:FutureWarning')
TEXTS = ['a photo of a dog.', 'banded texture.', 'x']
QUICK_GELU = dict(force_quick_gelu=True)


class _Carrier(nn.Module):
    """A scriptable module that only carries tensors."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _torchscript_of(state_dict: dict) -> torch.jit.ScriptModule:
    """A TorchScript module whose ``state_dict()`` is ``state_dict``."""
    root = _Carrier()
    for key, value in state_dict.items():
        *path, name = key.split('.')
        node = root
        for part in path:
            if not hasattr(node, part):
                node.add_module(part, _Carrier())
            node = getattr(node, part)
        if value.is_floating_point():
            node.register_parameter(
                name, nn.Parameter(value.clone(), requires_grad=False))
        else:
            node.register_buffer(name, value.clone())
    return torch.jit.script(root)


@pytest.fixture(scope='module')
def source():
    """A random tiny CLIP with QuickGELU and fp16-exact weights."""
    model = build_open_clip(TINY_MODEL, **QUICK_GELU)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(param.half().float())
    return model


def _openai_state_dict(model: nn.Module) -> dict:
    """``model``'s weights as OpenAI stores them: fp16 matrices, extras."""
    half = copy.deepcopy(model)
    open_clip.convert_weights_to_lp(half)  # what OpenAI's files hold
    state_dict = half.state_dict()
    state_dict.update(
        input_resolution=torch.tensor(32),
        context_length=torch.tensor(77),
        vocab_size=torch.tensor(49408))
    return state_dict


def _write(kind: str, model: nn.Module, root: str) -> str:
    """Write ``model``'s weights as a file of ``kind``; return its path."""
    fp32 = {k: v.clone() for k, v in model.state_dict().items()}
    if kind == 'torchscript':
        path = osp.join(root, 'ViT-B-16.pt')
        torch.jit.save(_torchscript_of(_openai_state_dict(model)), path)
    elif kind == 'openai_state_dict':
        path = osp.join(root, 'openai_state_dict.pt')
        torch.save(_openai_state_dict(model), path)
    elif kind == 'open_clip_training_checkpoint':
        path = osp.join(root, 'epoch_3.pt')
        torch.save(
            dict(
                epoch=3,
                name='run',
                state_dict={
                    'module.' + k: v
                    for k, v in fp32.items()
                }), path)
    elif kind == 'safetensors':
        path = osp.join(root, 'open_clip_model.safetensors')
        save_file({k: v.contiguous() for k, v in fp32.items()}, path)
    elif kind == 'bin':
        path = osp.join(root, 'open_clip_pytorch_model.bin')
        torch.save(
            open_clip.model.convert_to_custom_text_state_dict(fp32), path)
    else:
        raise AssertionError(kind)
    return path


@pytest.fixture(scope='module')
def reference(source):
    """Towers holding the source's weights, copied tensor by tensor."""
    image = OpenCLIPImageEncoder(TINY_MODEL, model_kwargs=QUICK_GELU)
    image.visual.load_state_dict(source.visual.state_dict())
    text = OpenCLIPTextEncoder(TINY_MODEL, model_kwargs=QUICK_GELU)
    text.load_state_dict({
        k: v
        for k, v in source.state_dict().items()
        if not k.startswith('visual.') and k != 'logit_scale'
    })
    text.logit_scale.copy_(source.logit_scale)
    return image, text


class _ListHandler(logging.Handler):
    """Collects the messages of a logger."""

    def __init__(self, messages):
        super().__init__()
        self.messages = messages

    def emit(self, record):
        self.messages.append(record.getMessage())


KINDS = ('torchscript', 'openai_state_dict', 'open_clip_training_checkpoint',
         'safetensors', 'bin')


@pytest.mark.parametrize('kind', KINDS)
def test_weight_files_load_exactly(kind, source, reference, tmp_path):
    path = _write(kind, source, str(tmp_path))
    # No force_quick_gelu here: a TorchScript archive turns it on itself.
    kwargs = {} if kind == 'torchscript' else dict(model_kwargs=QUICK_GELU)
    image = OpenCLIPImageEncoder(TINY_MODEL, pretrained=path, **kwargs)
    text = OpenCLIPTextEncoder(TINY_MODEL, pretrained=path, **kwargs)
    assert isinstance(image.visual.transformer.resblocks[0].mlp.gelu,
                      open_clip.transformer.QuickGELU)
    for name, tensor in source.visual.state_dict().items():
        assert image.visual.state_dict()[name].dtype == torch.float32, name
        assert torch.equal(image.visual.state_dict()[name], tensor), name
    weights = source.state_dict()
    for name, param in text.named_parameters():  # same names as in CLIP
        assert param.dtype == torch.float32, name
        assert torch.equal(param, weights[name]), name
    assert torch.equal(text.logit_scale, source.logit_scale)
    ref_image, ref_text = reference
    images = torch.randn(
        2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(image(images)[0], source.encode_image(images))
        assert torch.equal(image(images)[0], ref_image(images)[0])
        assert torch.equal(
            text.encode_text(TEXTS), ref_text.encode_text(TEXTS))


def test_torchscript_archive_turns_on_quick_gelu(source, tmp_path):
    path = _write('torchscript', source, str(tmp_path))
    assert is_torchscript_archive(path)
    assert not is_torchscript_archive(
        _write('openai_state_dict', source, str(tmp_path)))
    assert resolve_pretrained(TINY_MODEL,
                              path) == (path, dict(force_quick_gelu=True))
    logger = MMLogger.get_current_instance()
    seen = []
    handler = _ListHandler(seen)
    logger.addHandler(handler)
    try:
        model = build_open_clip(TINY_MODEL, pretrained=path)
    finally:
        logger.removeHandler(handler)
    assert any(
        'OpenAI TorchScript archive' in m and 'force_quick_gelu=True' in m
        for m in seen), seen
    assert isinstance(model.visual.transformer.resblocks[0].mlp.gelu,
                      open_clip.transformer.QuickGELU)
    # The user's explicit choice wins.
    model = build_open_clip(
        TINY_MODEL, pretrained=path, force_quick_gelu=False)
    assert isinstance(model.visual.transformer.resblocks[0].mlp.gelu, nn.GELU)


def test_openai_files_drop_their_non_weight_entries(source, tmp_path):
    path = _write('torchscript', source, str(tmp_path))
    state_dict = read_pretrained_file(path, TINY_MODEL)
    assert not set(OPENAI_EXTRA_KEYS) & set(state_dict)
    assert state_dict['visual.conv1.weight'].dtype == torch.float16
    assert set(state_dict) == set(source.state_dict())


def test_cached_openai_tag_file_is_a_torchscript_archive(source, tmp_path):
    """CoOp's ~/.cache/clip/ViT-B-16.pt is what the 'openai' tag finds."""
    path = _write('torchscript', source, str(tmp_path))
    assert resolve_pretrained(
        'ViT-B-16', 'openai',
        cache_dir=str(tmp_path)) == (path, dict(force_quick_gelu=True))


def test_file_of_another_architecture(tmp_path):
    other = open_clip.create_model(TINYCLIP_MODEL)
    path = str(tmp_path / 'tinyclip.pt')
    torch.save(other.state_dict(), path)
    with pytest.raises(
            WeightsError,
            match=re.escape(
                f"Cannot load pretrained='{path}' into open_clip model "
                f"'{TINY_MODEL}': {TINY_MODEL} expects visual.conv1.weight of "
                'shape (64, 3, 8, 8), the file has (128, 3, 8, 8)') +
            r' \(\d+ more tensors differ\): ' +
            re.escape('the file holds another architecture (its shapes fit '
                      f'open_clip model {TINYCLIP_MODEL}). Pass '
                      f"model_name='{TINYCLIP_MODEL}' or the weights file of "
                      f'{TINY_MODEL}.') + '$'):
        OpenCLIPImageEncoder(TINY_MODEL, pretrained=path)
    with pytest.raises(
            WeightsError, match=f"Pass model_name='{TINYCLIP_MODEL}'"):
        OpenCLIPTextEncoder(TINY_MODEL, pretrained=path)


def test_file_with_only_part_of_the_model(source, tmp_path):
    path = str(tmp_path / 'visual_only.pt')
    torch.save(
        {
            k: v
            for k, v in source.state_dict().items() if k.startswith('visual.')
        }, path)
    with pytest.raises(
            WeightsError,
            match=re.escape(path) + r'.*needs \d+ tensors the file lacks '
            r'\(e\.g\. positional_embedding, text_projection, logit_scale\)'
            r'.*only part of a CLIP model'):
        build_open_clip(TINY_MODEL, pretrained=path)


def _truncated(path: str) -> str:
    with open(path, 'rb') as file:
        data = file.read()
    with open(path, 'wb') as file:
        file.write(data[:len(data) // 2])
    return path


@pytest.mark.parametrize(
    'kind, make, match',
    [('truncated_torchscript',
      lambda src, root: _truncated(_write('torchscript', src, root)),
      r'zip archive .* whose end is missing: it is truncated or corrupted'),
     ('truncated_safetensors',
      lambda src, root: _truncated(_write('safetensors', src, root)),
      r'not a complete safetensors file, it is truncated or corrupted'),
     ('empty', lambda src, root: _text(root, 'empty.pt', ''),
      r'the file is empty \(0 bytes\)'),
     ('text', lambda src, root: _text(root, 'notes.pt', 'not weights\n' * 9),
      r'not a weights file that torch.load, torch.jit.load or safetensors '
      r'can read'),
     ('pickled_objects', lambda src, root: _pickled_objects(src, root),
      r'pickled Python objects besides tensors.*If you trust the file'),
     ('no_tensors', lambda src, root: _saved(root, dict(epoch=1)),
      r"a dict without tensors \(its keys: 'epoch'\)"),
     ('tensor', lambda src, root: _saved(root, torch.zeros(3)),
      r'holds a Tensor, not a state dict'),
     ('directory', lambda src, root: root,
      r"it is a directory, not a weights file. Pass the weights file inside "
      r"it, e.g. '.*/directory/w.pt'\.$")])
def test_bad_files_raise_one_clear_weights_error(kind, make, match, source,
                                                 tmp_path):
    root = str(tmp_path / kind)
    os.makedirs(root)
    if kind == 'directory':
        torch.save({}, osp.join(root, 'w.pt'))
    path = make(source, root)
    for build in (lambda: OpenCLIPImageEncoder(TINY_MODEL, pretrained=path),
                  lambda: OpenCLIPTextEncoder(TINY_MODEL, pretrained=path)):
        with pytest.raises(WeightsError) as info:
            build()
        message = str(info.value)
        assert message.startswith(
            f"Cannot load pretrained='{path}' into open_clip model "
            f"'{TINY_MODEL}': "), message
        assert re.search(match, message), message
        assert '\n' not in message
    assert isinstance(info.value, ValueError)


def _text(root: str, name: str, content: str) -> str:
    path = osp.join(root, name)
    with open(path, 'w') as file:
        file.write(content)
    return path


def _saved(root: str, obj) -> str:
    path = osp.join(root, 'saved.pt')
    torch.save(obj, path)
    return path


def _pickled_objects(source, root: str) -> str:
    path = osp.join(root, 'with_args.pt')
    torch.save(
        dict(args=argparse.Namespace(lr=1), state_dict=source.state_dict()),
        path)
    return path


def test_missing_file_is_a_path_not_found_error(tmp_path):
    missing = str(tmp_path / 'ViT-B-16.pt')
    with pytest.raises(PathNotFoundError, match=re.escape(missing)):
        OpenCLIPImageEncoder(TINY_MODEL, pretrained=missing)
    with pytest.raises(FileNotFoundError, match='no such file exists'):
        resolve_pretrained(TINY_MODEL, missing)
