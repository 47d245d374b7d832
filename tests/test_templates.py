# Copyright (c) mmprompt contributors. All rights reserved.
import subprocess
import sys
from unittest import TestCase

from mmprompt.templates import (COOP_TEMPLATES, IMAGENET_TEMPLATES,
                                IMAGENET_TEMPLATES_SELECT, get_templates)


class TestTemplates(TestCase):

    def test_counts_and_placeholders(self):
        self.assertEqual(len(IMAGENET_TEMPLATES), 80)
        self.assertEqual(len(set(IMAGENET_TEMPLATES)), 80)
        self.assertEqual(len(IMAGENET_TEMPLATES_SELECT), 7)
        self.assertTrue(
            set(IMAGENET_TEMPLATES_SELECT).issubset(IMAGENET_TEMPLATES))
        for template in (IMAGENET_TEMPLATES + IMAGENET_TEMPLATES_SELECT +
                         list(COOP_TEMPLATES.values())):
            self.assertEqual(template.count('{}'), 1, template)
            self.assertIn('dog', template.format('dog'))
        self.assertEqual(IMAGENET_TEMPLATES[0], 'a bad photo of a {}.')
        self.assertEqual(IMAGENET_TEMPLATES[-1], 'a tattoo of the {}.')

    def test_coop_templates(self):
        expected = {
            'DescribableTextures': '{} texture.',
            'EuroSAT': 'a centered satellite photo of {}.',
            'OxfordPets': 'a photo of a {}, a type of pet.',
            'OxfordFlowers': 'a photo of a {}, a type of flower.',
            'FGVCAircraft': 'a photo of a {}, a type of aircraft.',
            'Food101': 'a photo of {}, a type of food.',
            'UCF101': 'a photo of a person doing {}.',
            'SUN397': 'a photo of a {}.',
            'Caltech101': 'a photo of a {}.',
            'StanfordCars': 'a photo of a {}.',
            'ImageNet': 'a photo of a {}.',
        }
        for name, template in expected.items():
            self.assertEqual(COOP_TEMPLATES[name], template)

    def test_get_templates(self):
        self.assertEqual(get_templates('imagenet80'), IMAGENET_TEMPLATES)
        self.assertEqual(
            get_templates('imagenet_select'), IMAGENET_TEMPLATES_SELECT)
        self.assertEqual(
            get_templates('EuroSAT'), ['a centered satellite photo of {}.'])
        self.assertEqual(get_templates('dtd'), ['{} texture.'])
        self.assertEqual(get_templates('imagenet-v2'), ['a photo of a {}.'])
        self.assertEqual(get_templates('a {} here.'), ['a {} here.'])
        self.assertEqual(get_templates(('x {}.', 'y {}.')), ['x {}.', 'y {}.'])
        # A copy, not the module's list.
        get_templates('imagenet80').append('z {}.')
        self.assertEqual(len(IMAGENET_TEMPLATES), 80)

    def test_get_templates_errors(self):
        with self.assertRaisesRegex(
                ValueError, r"Unknown template set 'foo'.*imagenet80"
                r".*DescribableTextures"):
            get_templates('foo')
        with self.assertRaisesRegex(ValueError, 'exactly one'):
            get_templates(['a {} {}.'])
        with self.assertRaisesRegex(ValueError, 'non-empty list'):
            get_templates([])


def test_models_import_no_datasets():
    """Templates and prompt learners are usable without the datasets."""
    code = ('import sys, mmprompt.templates, mmprompt.models, '
            'mmprompt.models.prompt_learners.handcrafted\n'
            "bad = sorted(m for m in sys.modules if m.startswith("
            "'mmprompt.datasets'))\n"
            'assert not bad, bad\n')
    result = subprocess.run([sys.executable, '-c', code],
                            capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-2000:]
