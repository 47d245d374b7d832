# Copyright (c) mmprompt contributors. All rights reserved.
"""Export text-prompt models as plain mmpretrain classifiers (and ONNX).

See :mod:`.export` for what is baked and why some methods cannot be,
:mod:`.convert` for the open_clip -> mmpretrain conversion of the image
tower, pipeline and preprocessor, and :mod:`.source` for the model, classes
and images an export starts from. The command line is
``tools/deployment/export_classifier.py``.
"""
from mmprompt.models.clip.mmpretrain_convert import (
    NotExportableError, image_tower_to_mmpretrain, open_clip_vit_to_mmpretrain,
    plain_data_preprocessor, plain_pipeline)
from .export import (DEFAULT_OPSET, EXPORTABLE_METHODS, BakedClassifier,
                     ExportResult, bake, build_plain_model, check_bakeable,
                     check_bakeable_config, check_output, export_classifier,
                     export_onnx, exported_config_text, logits_on_images,
                     onnx_logits, output_paths, unbakeable_reason)
from .source import (SPLITS, ClassSource, check_class_names,
                     classes_from_config, config_test_pipeline,
                     dataset_template, load_source_model, parse_class_list,
                     read_classes_file)

__all__ = [
    'NotExportableError', 'open_clip_vit_to_mmpretrain',
    'image_tower_to_mmpretrain', 'plain_pipeline', 'plain_data_preprocessor',
    'DEFAULT_OPSET', 'EXPORTABLE_METHODS', 'BakedClassifier', 'ExportResult',
    'bake', 'build_plain_model', 'check_bakeable', 'check_bakeable_config',
    'export_classifier', 'export_onnx', 'exported_config_text',
    'logits_on_images', 'onnx_logits', 'unbakeable_reason', 'output_paths',
    'check_output', 'SPLITS', 'ClassSource', 'check_class_names',
    'classes_from_config', 'dataset_template', 'load_source_model',
    'parse_class_list', 'read_classes_file', 'config_test_pipeline'
]
