# Copyright (c) mmprompt contributors. All rights reserved.
import os.path as osp
from setuptools import find_packages, setup


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
    zip_safe=False)
