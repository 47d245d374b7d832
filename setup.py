# Copyright (c) mmprompt contributors. All rights reserved.
import os
import os.path as osp
import shutil
from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

#: What `mim train / test / search mmprompt` look for in ``mmprompt/.mim``.
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def readme():
    with open('README.md', encoding='utf-8') as f:
        return f.read()


def get_version():
    scope = {}
    with open(osp.join('mmprompt', 'version.py'), encoding='utf-8') as f:
        exec(compile(f.read(), 'version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(fname):
    """Requirement lines of a file, following ``-r`` includes."""
    reqs = []
    with open(fname, encoding='utf-8') as f:
        for line in f:
            line = line.split('#')[0].strip()
            if not line:
                continue
            if line.startswith('-r '):
                reqs += parse_requirements(
                    osp.join(osp.dirname(fname), line[3:].strip()))
            else:
                reqs.append(line)
    return reqs


class BuildPyWithMim(build_py):
    """``build_py`` that also puts the configs, the tools and the model index
    into the built package as ``mmprompt/.mim``, where openmim finds them.

    Copied into the build folder only, never into the source tree. An
    editable install (``pip install -e .``) skips it: use the checkout's
    ``tools/`` and ``configs/`` there.
    """

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        target = osp.join(self.build_lib, 'mmprompt', '.mim')
        if osp.isdir(target):
            shutil.rmtree(target)
        os.makedirs(target)
        ignore = shutil.ignore_patterns('__pycache__', '*.pyc')
        for name in MIM_FILES:
            if not osp.exists(name):
                raise FileNotFoundError(
                    f'{osp.abspath(name)} is missing: mmprompt is packaged '
                    'from a full checkout (or its sdist), which has '
                    f'{", ".join(MIM_FILES)}.')
            if osp.isdir(name):
                shutil.copytree(name, osp.join(target, name), ignore=ignore)
            else:
                shutil.copy(name, osp.join(target, name))


TESTS = parse_requirements('requirements/tests.txt')
OPTIONAL = parse_requirements('requirements/optional.txt')

setup(
    name='mmprompt',
    version=get_version(),
    description='Prompt learning for CLIP-style vision-language models, '
    'as an OpenMMLab (mmpretrain) extension',
    long_description=readme(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests')),
    include_package_data=True,
    package_data={
        'mmprompt': [
            'models/clip/model_configs/*.json',
            'models/clip/weights/*.safetensors'
        ]
    },
    python_requires='>=3.8',
    license='Apache License 2.0',
    install_requires=parse_requirements('requirements/runtime.txt') +
    parse_requirements('requirements/mminstall.txt'),
    extras_require=dict(tests=TESTS, optional=OPTIONAL, all=OPTIONAL + TESTS),
    cmdclass={'build_py': BuildPyWithMim},
    zip_safe=False)
