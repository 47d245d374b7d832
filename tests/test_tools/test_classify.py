# Copyright (c) mmprompt contributors. All rights reserved.
"""tools/classify.py: the table, the drawn images and the user errors
(in-process; the errors stop before any model is built)."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmprompt.errors import ConfigError, PathNotFoundError
from mmprompt.offline import render_texture

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools/classify.py')
ZERO_SHOT = osp.join(REPO, 'configs/zeroshot/clip_tinyclip_procdtd.py')
LINEAR = osp.join(REPO, 'configs/linear_probe/lp_tinyclip_procdtd_fewshot4.py')

_spec = importlib.util.spec_from_file_location('classify_tool', TOOL)
classify = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(classify)


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp('images')
    paths = []
    for label, name in enumerate(('banded', 'striped', 'zigzagged')):
        image, _ = render_texture(
            name, np.random.default_rng([5, label]), style='downstream')
        path = str(folder / f'{name}.png')
        Image.fromarray(image).save(path)
        paths.append(path)
    return paths


def _fails(capsys, argv):
    """Run the tool on a user mistake: its one error line."""
    with pytest.raises(SystemExit) as info:
        classify.main(argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert 'Traceback' not in captured.err
    lines = [line for line in captured.err.splitlines() if line]
    assert lines[-1].startswith('error: '), captured.err
    return lines[-1]


def test_prints_the_table_and_draws_the_images(images, tmp_path, capsys):
    before = [open(p, 'rb').read() for p in images]
    out = tmp_path / 'drawn'
    results = classify.main(images[:2] + [
        '--config', ZERO_SHOT, '--classes', 'banded, striped,zigzagged',
        '--topk', '2', '--out-dir',
        str(out), '--device', 'cpu'
    ])
    stdout = capsys.readouterr().out.splitlines()
    assert stdout[0] == (
        f'config {ZERO_SHOT} (ImageClassifier/PromptClsHead/'
        "HandcraftedPrompts), no checkpoint, 3 classes, template "
        "'{} texture.'")
    assert stdout[1].split() == ['image', 'rank', 'class', 'score']
    rows = [line.split() for line in stdout[2:6]]
    assert [row[0] for row in rows] == [images[0]] * 2 + [images[1]] * 2
    assert [row[1] for row in rows] == ['1', '2', '1', '2']
    for i, result in enumerate(results):
        assert [row[2] for row in rows[2 * i:2 * i + 2]] == \
            result['topk_classes']
        assert [float(row[3]) for row in rows[2 * i:2 * i + 2]] == [
            pytest.approx(s, abs=5e-5) for s in result['topk_scores']
        ]
        assert result['topk_scores'][0] >= result['topk_scores'][1]
        assert set(
            result['topk_classes']) <= {'banded', 'striped', 'zigzagged'}
    assert results[0]['pred_class'] == 'banded'
    assert stdout[6:] == [
        f"drawn: {out / 'banded.png'}", f"drawn: {out / 'striped.png'}"
    ]
    for name in ('banded.png', 'striped.png'):
        with Image.open(out / name) as drawn:
            drawn.load()
            assert drawn.size == (256, 256) and drawn.mode == 'RGB'
    assert [open(p, 'rb').read() for p in images] == before


def test_class_lists_from_the_command_line(tmp_path):
    assert classify.parse_class_list(' banded , polka-dotted') == [
        'banded', 'polka-dotted'
    ]
    path = tmp_path / 'classes.txt'
    path.write_text('# textures\nbanded\n\n  striped  \npolka dotted\n')
    assert classify.read_class_file(
        str(path)) == ['banded', 'striped', 'polka dotted']
    path.write_text('\n# nothing\n')
    with pytest.raises(ConfigError, match='names no class'):
        classify.read_class_file(str(path))
    with pytest.raises(PathNotFoundError, match='does not exist'):
        classify.read_class_file(str(tmp_path / 'missing.txt'))


@pytest.mark.parametrize('options, message', [
    (['--classes', ''], "--classes '' names no class: give comma-separated "
     'class names'),
    (['--classes', 'a,,b'], "--classes 'a,,b': name 2 of 3 is empty (two "
     'commas in a row, or one at the start or end); remove the extra comma.'),
    (['--classes', 'banded,striped,'], 'name 3 of 3 is empty'),
    (['--classes', 'banded,striped,banded'],
     "--classes: class 3 'banded' repeats it of class 1 'banded'; two such "
     'classes cannot be told apart. Give each class once.'),
    (['--classes', 'banded,striped', '--topk', '3'
      ], '--topk 3 is more than the 2 classes given; use --topk 2 or fewer'),
    (['--classes', 'banded,striped', '--topk', '0'
      ], '--topk 0 asks for no prediction: give 1 or more'),
    (['--classes', 'banded', '--template', 'a photo'],
     "--template 'a photo' has no \"{}\": a template needs exactly one \"{}\""
     ' where the class name goes'),
    (['--classes', 'banded', '--checkpoint', 'nowhere/epoch_1.pth'],
     'checkpoint file nowhere/epoch_1.pth (from --checkpoint) does not exist'),
])
def test_user_errors(images, capsys, options, message):
    line = _fails(capsys, images[:1] + ['--config', ZERO_SHOT] + options)
    assert message in line


def test_file_errors(images, tmp_path, capsys):
    missing = str(tmp_path / 'missing.png')
    line = _fails(
        capsys,
        [images[0], missing, '--config', ZERO_SHOT, '--classes', 'banded'])
    assert line.startswith(f"error: image '{missing}' does not exist.")
    line = _fails(capsys, [
        images[0], '--config', ZERO_SHOT, '--classes-file',
        str(tmp_path / 'none.txt')
    ])
    assert f"--classes-file '{tmp_path / 'none.txt'}' does not exist" in line
    folder = osp.dirname(images[0])
    line = _fails(capsys, [
        images[0], '--config', ZERO_SHOT, '--classes', 'banded', '--out-dir',
        folder
    ])
    assert (f"the drawing of '{images[0]}' would be written to "
            f"'{images[0]}', which is one of the input images") in line
    line = _fails(capsys,
                  [images[0], '--config', LINEAR, '--classes', 'banded'])
    assert 'lp_tinyclip_procdtd_fewshot4.py is not a prompt-learning ' \
        'classifier: its model.head is LinearClsHead' in line
