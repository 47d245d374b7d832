# Copyright (c) mmprompt contributors. All rights reserved.
"""The model index against the configs and READMEs on disk.

``model-index.yml`` imports one ``configs/<method>/metafile.yml`` per method
folder, in mmpretrain's format; ``mim search mmprompt`` reads it through the
``model-index`` library. Every check here names the file, the model and the
field it is about. Configs are loaded (as the tools load them), never built.
"""
import functools
import glob
import os.path as osp
import re
import shlex

import pytest
import yaml

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
INDEX = 'model-index.yml'
METHODS = sorted(
    osp.basename(osp.dirname(p))
    for p in glob.glob(osp.join(REPO, 'configs', '*', '*.py'))
    if '_base_' not in p)
METHODS = sorted(set(METHODS))
METAFILES = [f'configs/{m}/metafile.yml' for m in METHODS]
ALGORITHM_TAG = '<!-- [ALGORITHM] -->'
OURS_DATASET = 'Procedural mini-DTD'
OURS_DATASET_TYPE = 'CoOpProceduralDTD'
#: Task -> (the metrics its results may give, the test evaluator it needs).
TASKS = {
    'Base-to-New Generalization':
    (('Base Top 1 Accuracy', 'New Top 1 Accuracy', 'H'), 'BaseNewAccuracy'),
    'Few-shot Image Classification': (('Top 1 Accuracy', ), 'Accuracy'),
    'Zero-shot Image Classification': (('Top 1 Accuracy', ), 'Accuracy'),
    'Cross-Dataset Transfer': (('Top 1 Accuracy', ), 'Accuracy'),
}
#: open_clip model name of the configs -> how a metafile's Backbone starts.
BACKBONES = {
    'ViT-B-16': 'CLIP ViT-B/16',
    'RN50': 'CLIP ResNet-50',
    'mmprompt-tinyclip': 'mmprompt-tinyclip',
}
#: Text Prompt Init -> the ctx_init types of the configs it stands for.
PROMPT_INITS = {
    'random': (None, 'RandomPromptInit'),
    'same-ST': ('SameSTPromptInit', ),
    'diff-ST': ('DiffSTPromptInit', ),
}


def _read(rel):
    with open(osp.join(REPO, rel), encoding='utf-8') as f:
        return f.read()


def _yaml(rel):
    return yaml.safe_load(_read(rel)) or {}


def _models():
    """(metafile, raw model dict) of every model of every metafile on disk."""
    out = []
    for rel in METAFILES:
        if osp.isfile(osp.join(REPO, rel)):
            out.extend((rel, m) for m in _yaml(rel).get('Models') or [])
    return out


MODELS = _models()


def _where(metafile, model, field=None):
    text = f'{metafile}: model {model.get("Name")!r}'
    return f'{text}, field {field!r}' if field else text


@functools.lru_cache(maxsize=None)
def _config(rel):
    from mmprompt.cli import load_config  # what tools/train.py and test.py use
    return load_config(osp.join(REPO, rel))


@functools.lru_cache(maxsize=None)
def _numbers(*readmes):
    """Every decimal number written in the given READMEs."""
    found = set()
    for rel in readmes:
        found.update(
            float(x) for x in re.findall(r'(?<![\d.])\d+\.\d+', _read(rel)))
    return found


def _expand_braces(token):
    """Shell brace expansion of one word: ``a{,-b}c`` -> ``ac``, ``a-bc``."""
    match = re.match(r'(.*?)\{([^{}]*,[^{}]*)\}(.*)$', token)
    if not match:
        return [token]
    head, alternatives, tail = match.groups()
    return [
        word for alt in alternatives.split(',')
        for word in _expand_braces(head + alt + tail)
    ]


def _evaluator_type(cfg):
    evaluator = cfg.get('test_evaluator')
    if isinstance(evaluator, (list, tuple)):
        evaluator = evaluator[0] if evaluator else None
    return evaluator.get('type') if evaluator else None


def _harmonic_mean(base, new):
    return 2 * base * new / (base + new)


def test_helpers():
    assert _expand_braces('configs/dapt/dapt{,-same-st,-diff-st}_x.py') == [
        'configs/dapt/dapt_x.py', 'configs/dapt/dapt-same-st_x.py',
        'configs/dapt/dapt-diff-st_x.py'
    ]
    assert _expand_braces('a{b,c}d{1,2}') == ['abd1', 'abd2', 'acd1', 'acd2']
    assert _expand_braces('--seeds') == ['--seeds']
    assert round(_harmonic_mean(79.44, 41.18), 2) == 54.24


def test_index_imports_the_metafile_of_every_method_folder():
    assert len(METHODS) >= 12, METHODS
    index = _yaml(INDEX)
    imports = index.get('Import')
    assert isinstance(imports, list), f'{INDEX}: no Import list'
    assert len(imports) == len(set(imports)), \
        f'{INDEX}: Import lists a metafile twice: {imports}'
    assert sorted(imports) == METAFILES, (
        f'{INDEX}: Import must list configs/<method>/metafile.yml of every '
        f'method folder; missing {sorted(set(METAFILES) - set(imports))}, '
        f'extra {sorted(set(imports) - set(METAFILES))}')
    for rel in METAFILES:
        assert osp.isfile(osp.join(REPO, rel)), \
            f'{rel} is missing: every method folder has a metafile.yml'


def test_index_loads_with_modelindex_and_mim_gives_one_row_per_model():
    import modelindex
    from mim.commands.search import convert2df

    index = modelindex.load(osp.join(REPO, INDEX))
    names = [m.name for m in index.models]
    assert names == [m['Name'] for _, m in MODELS]
    assert len(index.collections) == len(METHODS)
    frame = convert2df(index)
    assert list(frame.index) == names, 'convert2df: not one row per model'
    # mim's columns carry the numbers of the metafiles.
    for metafile, model in MODELS:
        for result in model.get('Results') or []:
            for metric, value in result['Metrics'].items():
                column = '{}/{}'.format(result['Dataset'].lower(),
                                        '_'.join(metric.lower().split()))
                assert frame.loc[model['Name'], column] == value, \
                    f'{_where(metafile, model)}: mim reads {column} wrong'
    assert frame.loc['coop_tinyclip_procdtd', 'config'] == \
        'configs/coop/coop_tinyclip_procdtd.py'
    assert frame.loc['coop_tinyclip_procdtd', 'model'] == 'coop'


@pytest.mark.parametrize('metafile', METAFILES)
def test_metafile_loads_and_passes_modelindex_checks(metafile):
    import modelindex

    index = modelindex.load(osp.join(REPO, metafile))
    assert index.models, f'{metafile}: no Models'
    assert len(index.collections) == 1, \
        f'{metafile}: expected one collection, got {len(index.collections)}'
    # modelindex resolves a README against the metafile's folder; ours (as
    # mmpretrain's) are relative to the repository root, checked below.
    errors = [
        e for e in index.check(silent=True)
        if not re.search(r'Path to README file \S+ is not a valid file', e)
    ]
    assert not errors, f'{metafile}: ' + '; '.join(errors)


@pytest.mark.parametrize('metafile', METAFILES)
def test_collection_paper_code_and_readme(metafile):
    method = metafile.split('/')[1]
    collections = _yaml(metafile).get('Collections') or []
    assert len(collections) == 1, f'{metafile}: one collection expected'
    col = collections[0]
    where = f'{metafile}: collection {col.get("Name")!r}'
    assert col.get('Name'), f'{where}: field Name is empty'
    paper = col.get('Paper') or {}
    assert paper.get('Title'), f'{where}: field Paper.Title is missing'
    url = paper.get('URL')
    assert url or paper.get('Note'), \
        f'{where}: field Paper needs a URL (or a Note saying why none)'
    if url:
        assert url.startswith('https://'), f'{where}: Paper.URL {url!r}'
    code = col.get('Code')
    if code is not None:
        assert str(code.get('URL', '')).startswith('https://github.com/'), \
            f'{where}: field Code.URL {code.get("URL")!r} is no GitHub URL'
    for path in col.get('Implementation') or []:
        assert osp.isfile(osp.join(REPO, path)), \
            f'{where}: field Implementation names {path}, which is missing'
    readme = col.get('README')
    assert readme == f'configs/{method}/README.md', \
        f'{where}: field README is {readme!r}'
    assert osp.isfile(osp.join(REPO, readme)), f'{where}: {readme} missing'
    text = _read(readme)
    lines = text.splitlines()
    assert lines[0].startswith('# '), f'{readme}: no title line'
    head = text.split('\n## ', 1)[0]
    assert ALGORITHM_TAG in head, \
        f'{readme}: no {ALGORITHM_TAG} under the title'
    quote = f'> [{paper["Title"]}]({url})' if url else f'> {paper["Title"]}'
    assert any(line.startswith(quote) for line in lines[1:6]), \
        f'{readme}: the paper line {quote!r} must follow the title'
    assert head.index(quote) < head.index(ALGORITHM_TAG), \
        f'{readme}: the paper line must come before {ALGORITHM_TAG}'
    assert '\n## Citation\n' in text, f'{readme}: no ## Citation section'
    citation = text.split('\n## Citation\n', 1)[1]
    assert '\n## ' not in citation, f'{readme}: ## Citation must be last'
    blocks = re.findall(r'```bibtex\n(.*?)```', citation, re.S)
    assert blocks, f'{readme}: no ```bibtex block under ## Citation'
    entries = re.findall(r'@\w+\{[^,\s]+,(.*?)\n\}', blocks[0], re.S)
    assert entries, f'{readme}: the bibtex block has no entry'
    for entry in entries:
        for field in ('title', 'author'):
            assert re.search(rf'\b{field}\s*=\s*\{{', entry), \
                f'{readme}: a bibtex entry has no {field}'
    titles = re.findall(r'\btitle\s*=\s*\{(.*?)\},?\n', blocks[0])
    assert paper['Title'] in titles, \
        f'{readme}: no bibtex entry titled {paper["Title"]!r}'


@pytest.mark.parametrize('metafile', METAFILES)
def test_metafile_covers_the_offline_and_a_real_world_config(metafile):
    method = metafile.split('/')[1]
    configs = {m.get('Config') for f, m in MODELS if f == metafile}
    tiny = sorted(
        osp.relpath(p, REPO) for p in glob.glob(
            osp.join(REPO, 'configs', method, '*_tinyclip_procdtd*.py')))
    missing = sorted(set(tiny) - configs)
    assert not missing, f'{metafile}: no model for the offline configs ' \
        f'{missing}'
    assert configs - set(tiny), \
        f'{metafile}: no model for a real-world (ViT-B/16 or RN50) config'


def test_model_names_are_unique_across_the_index():
    seen = {}
    for metafile, model in MODELS:
        name = model.get('Name')
        assert name not in seen, \
            f'model name {name!r} is in {seen.get(name)} and {metafile}'
        seen[name] = metafile


@pytest.mark.parametrize(
    'metafile,model', MODELS, ids=[m.get('Name', '?') for _, m in MODELS])
def test_model_config_collection_and_metadata(metafile, model):
    method = metafile.split('/')[1]
    collections = [c['Name'] for c in _yaml(metafile)['Collections']]
    assert model.get('In Collection') in collections, (
        f'{_where(metafile, model, "In Collection")}: '
        f'{model.get("In Collection")!r} is no collection of this file '
        f'({collections})')
    rel = model.get('Config')
    assert rel, f'{_where(metafile, model, "Config")}: missing'
    assert osp.isfile(osp.join(REPO, rel)), \
        f'{_where(metafile, model, "Config")}: {rel} does not exist'
    assert rel.startswith(f'configs/{method}/'), \
        f'{_where(metafile, model, "Config")}: {rel} is not in this folder'
    assert model['Name'] == osp.splitext(osp.basename(rel))[0], \
        f'{_where(metafile, model, "Name")}: must be the config name'
    cfg = _config(rel)
    meta = model.get('Metadata') or {}
    train = cfg.get('train_dataloader')
    if 'Epochs' in meta:
        assert meta['Epochs'] == cfg.train_cfg.max_epochs, \
            f'{_where(metafile, model, "Metadata.Epochs")}: {rel} trains ' \
            f'{cfg.train_cfg.max_epochs} epochs'
    if 'Batch Size' in meta:
        assert meta['Batch Size'] == train.batch_size, \
            f'{_where(metafile, model, "Metadata.Batch Size")}: {rel} has ' \
            f'batch_size {train.batch_size}'
    if 'Backbone' in meta:
        name = (cfg.model.get('backbone') or {}).get('model_name')
        assert name in BACKBONES and \
            meta['Backbone'].startswith(BACKBONES[name]), \
            f'{_where(metafile, model, "Metadata.Backbone")}: ' \
            f'{meta["Backbone"]!r}, but {rel} builds {name!r}'
    shots = re.search(r'(\d+) shots', str(meta.get('Training Data', '')))
    if shots:
        assert train is not None and \
            int(shots.group(1)) == train.dataset.num_shots, \
            f'{_where(metafile, model, "Metadata.Training Data")}: ' \
            f'{shots.group(0)}, but {rel} trains ' \
            f'{train and train.dataset.num_shots} shots'
    if 'Text Prompt Init' in meta:
        init = cfg.model.head.prompt_learner.get('ctx_init')
        kind = init.get('type') if isinstance(init, dict) else init
        assert kind in PROMPT_INITS.get(meta['Text Prompt Init'], ()), \
            f'{_where(metafile, model, "Metadata.Text Prompt Init")}: ' \
            f'{meta["Text Prompt Init"]!r}, but {rel} has ctx_init {kind!r}'
    if 'Episodes' in meta:
        sampler = train.batch_sampler
        found = re.match(
            r'(\d+)-way, (\d+) support images per class, (\d+) tasks',
            meta['Episodes'])
        assert found and tuple(map(int, found.groups())) == (
            sampler.num_ways, sampler.num_support, train.batch_size), \
            f'{_where(metafile, model, "Metadata.Episodes")}: ' \
            f'{meta["Episodes"]!r}, but {rel} has {sampler}'


def _check_command(metafile, model, command):
    where = _where(metafile, model, 'Metadata.Command')
    words = [w for word in shlex.split(command) for w in _expand_braces(word)]
    assert words[:1] == ['python'] and len(words) > 2, \
        f'{where}: {command!r} is no `python tools/... ` command'
    tool = words[1]
    assert tool.startswith('tools/') and \
        osp.isfile(osp.join(REPO, tool)), \
        f'{where}: the tool {tool} does not exist'
    configs = [w for w in words if re.match(r'configs/.*\.py$', w)]
    for rel in configs:
        assert osp.isfile(osp.join(REPO, rel)), \
            f'{where}: the command names {rel}, which does not exist'
    assert model['Config'] in configs, \
        f'{where}: the command does not run {model["Config"]}'
    assert '--seeds' in words, f'{where}: the command names no --seeds'


@pytest.mark.parametrize(
    'metafile,model', MODELS, ids=[m.get('Name', '?') for _, m in MODELS])
def test_results_are_labelled_ours_or_published(metafile, model):
    method = metafile.split('/')[1]
    meta = model.get('Metadata') or {}
    results = model.get('Results') or []
    source = meta.get('Results Source')
    if not results:
        assert source is None and 'Command' not in meta, \
            f'{_where(metafile, model)}: a source or command, no Results'
        return
    where = _where(metafile, model, 'Metadata.Results Source')
    assert isinstance(source, str), f'{where}: missing'
    cfg = _config(model['Config'])
    dataset_type = cfg.test_dataloader.dataset.type
    ours = source.startswith('ours')
    if ours:
        assert 'Command' in meta, \
            f'{_where(metafile, model, "Metadata.Command")}: our results ' \
            'need the command that produced them'
        _check_command(metafile, model, meta['Command'])
        if 'stale' in source:
            assert re.search(r'at commit [0-9a-f]{7}', source), \
                f'{where}: a stale result names the commit it is from'
        readmes = ('README.md', f'configs/{method}/README.md')
    else:
        assert re.match(r'published \(.+\)', source), \
            f'{where}: {source!r} is neither "ours ..." nor ' \
            '"published (<source>) ..."'
        assert 'not reproduced by mmprompt' in source, \
            f'{where}: say that published numbers are not reproduced here'
        assert 'Command' not in meta, \
            f'{_where(metafile, model, "Metadata.Command")}: a published ' \
            'result has no command of ours'
        readmes = tuple(['README.md'] + sorted(
            osp.relpath(p, REPO)
            for p in glob.glob(osp.join(REPO, 'configs', '*', 'README.md'))))
    written = _numbers(*readmes)
    for i, result in enumerate(results):
        field = f'Results[{i}]'
        task, dataset = result.get('Task'), result.get('Dataset')
        metrics = result.get('Metrics') or {}
        assert task in TASKS, \
            f'{_where(metafile, model, field + ".Task")}: {task!r} is not ' \
            f'one of {sorted(TASKS)}'
        allowed, evaluator = TASKS[task]
        assert metrics and set(metrics) <= set(allowed), \
            f'{_where(metafile, model, field + ".Metrics")}: ' \
            f'{sorted(metrics)}; {task} gives {allowed}'
        assert _evaluator_type(cfg) == evaluator, \
            f'{_where(metafile, model, field + ".Task")}: {task} needs a ' \
            f'{evaluator} test_evaluator, {model["Config"]} has ' \
            f'{_evaluator_type(cfg)}'
        if ours:
            assert dataset == OURS_DATASET and \
                dataset_type == OURS_DATASET_TYPE, \
                f'{_where(metafile, model, field + ".Dataset")}: ours are ' \
                f'on {OURS_DATASET!r} ({OURS_DATASET_TYPE}), not ' \
                f'{dataset!r} ({dataset_type})'
        else:
            assert dataset_type != OURS_DATASET_TYPE and (
                dataset == dataset_type[len('CoOp'):]
                or dataset.startswith('Average over ')), \
                f'{_where(metafile, model, field + ".Dataset")}: ' \
                f'{dataset!r} is not the dataset of {model["Config"]} ' \
                f'({dataset_type}) nor an "Average over ..." of it'
        for metric, value in metrics.items():
            assert isinstance(value, float) and 0 < value <= 100, \
                f'{_where(metafile, model, field + ".Metrics." + metric)}: ' \
                f'{value!r} is no accuracy in %'
            assert value in written, \
                f'{_where(metafile, model, field + ".Metrics." + metric)}: ' \
                f'{value} is written in none of {readmes}'
        if set(metrics) == set(TASKS['Base-to-New Generalization'][0]):
            base, new = metrics['Base Top 1 Accuracy'], metrics[
                'New Top 1 Accuracy']
            if ours:  # H of the seed-averaged B and N (of 2-decimal means)
                assert abs(_harmonic_mean(base, new) - metrics['H']) < \
                    0.011, f'{_where(metafile, model, field + ".Metrics.H")}' \
                    f': {metrics["H"]} is not H of {base} and {new}'
            else:  # papers average H over seeds or datasets differently
                assert min(base, new) <= metrics['H'] <= max(base, new), \
                    f'{_where(metafile, model, field + ".Metrics.H")}: ' \
                    f'{metrics["H"]} is outside [{base}, {new}]'
