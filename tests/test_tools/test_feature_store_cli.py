# Copyright (c) mmprompt contributors. All rights reserved.
"""tools/misc/feature_store.py: what the store holds, and clearing it."""
import importlib.util
import os
import os.path as osp
import time

import pytest
import torch

from mmprompt.engine.feature_store import FeatureStore

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
spec = importlib.util.spec_from_file_location(
    'feature_store_tool', osp.join(REPO, 'tools/misc/feature_store.py'))
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

DAY = 86400


@pytest.fixture
def store(tmp_path):
    store = FeatureStore(f'cli-{tmp_path}', root=str(tmp_path / 'store'))
    for epoch in (1, 2, 3):
        store.save(f'{epoch:064x}',
                   torch.ones(4, 8) * epoch,
                   dict(what=f'epoch {epoch} training views of Data'))
    store.save('a' * 64, torch.zeros(6, 8), dict(what='test features of D'))
    old = time.time() - 40 * DAY
    for key in (f'{1:064x}', f'{2:064x}'):  # two entries unused for 40 days
        os.utime(store.paths(key)[1], (old, old))
    # a killed write (old), a write in progress (new), a foreign file
    killed = osp.join(store.root, 'bb', 'b' * 64 + '.npy')
    os.makedirs(osp.dirname(killed))
    open(killed, 'w').close()
    os.utime(killed, (old, old))
    writing = store.paths('c' * 64)[0] + '.' + 'd' * 32 + '.tmp'
    os.makedirs(osp.dirname(writing))
    open(writing, 'w').close()
    with open(osp.join(store.root, 'notes.txt'), 'w') as f:
        f.write('mine')
    return store


def test_info_groups_entries_and_names_foreign_files(store, capsys):
    tool.main(['info', '--root', store.root])
    out = capsys.readouterr().out
    assert f'{store.root}: 4 entries' in out
    assert '| epoch N training views of Data | 3 |' in out
    assert '| test features of D | 1 |' in out
    assert '2 unfinished write(s)' in out
    assert osp.join(store.root, 'notes.txt') in out


def test_a_hit_marks_an_entry_used(store):
    meta = store.paths(f'{1:064x}')[1]
    assert time.time() - osp.getmtime(meta) > 39 * DAY
    assert torch.equal(store.load(f'{1:064x}'), torch.ones(4, 8))
    assert time.time() - osp.getmtime(meta) < 60


def test_clean_unused_entries_and_killed_writes_only(store, capsys):
    tool.main(
        ['clean', '--root', store.root, '--unused-days', '30', '--dry-run'])
    assert 'would delete 5 file(s) (2 entries)' in capsys.readouterr().out
    assert len(store.entries()['entries']) == 4  # dry run: nothing gone
    tool.main(['clean', '--root', store.root, '--unused-days', '30'])
    out = capsys.readouterr().out
    assert 'deleted 5 file(s) (2 entries)' in out
    assert 'left alone: 1 file(s)' in out
    found = store.entries()
    assert sorted(e['key'][-1] for e in found['entries']) == ['3', 'a']
    assert [osp.basename(p) for p, _ in found['partial']
            ] == ['c' * 64 + '.npy.' + 'd' * 32 + '.tmp'
                  ]  # the write in progress
    assert store.load(f'{1:064x}') is None  # a miss now: recomputed
    assert torch.equal(store.load(f'{3:064x}'), torch.full((4, 8), 3.))
    assert not osp.exists(osp.join(store.root, 'bb'))  # emptied, removed
    tool.main(['clean', '--root', store.root])
    assert store.entries()['entries'] == []
    with open(osp.join(store.root, 'notes.txt')) as f:
        assert f.read() == 'mine'


def test_bad_arguments_are_clear_errors(tmp_path, store, capsys):
    missing = str(tmp_path / 'nowhere')
    with pytest.raises(SystemExit):
        tool.main(['info', '--root', missing])
    assert f'{missing} is not a folder: no feature store there' in \
        capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main(['clean', '--root', store.root, '--unused-days', '-1'])
    assert '--unused-days -1.0: give a number of days >= 0' in \
        capsys.readouterr().err
