# Copyright (c) mmprompt contributors. All rights reserved.
"""Export a text-prompt model as a plain mmpretrain classifier (and ONNX).

The class text features of zero-shot CLIP, CoOp, KgCoOp or the meta-trained
prompts are computed once and baked into an mmpretrain ``ImageClassifier``
(CLIP's image tower as ``VisionTransformer`` + ``LinearNeck``, and an
``ArcFaceClsHead`` holding ``logit_scale`` and the class text features),
which loads and runs without mmprompt.

Examples:
    Zero-shot CLIP for the test classes of the config's dataset::

        python tools/deployment/export_classifier.py \\
            configs/zeroshot/clip_tinyclip_procdtd.py --out-dir work_dirs/exp

    A trained CoOp checkpoint, for the new classes only, and ONNX::

        python tools/deployment/export_classifier.py \\
            configs/coop/coop_tinyclip_procdtd.py \\
            work_dirs/coop/epoch_50.pth --out-dir work_dirs/exp --split new \\
            --onnx

    Classes of your own (the prompts carry over to any class names)::

        python tools/deployment/export_classifier.py CONFIG CHECKPOINT \\
            --out-dir DIR --classes "banded,striped,dotted"

It writes ``DIR/<name>.py`` and ``DIR/<name>.pth`` (and ``DIR/<name>.onnx``
with ``--onnx``), ``<name>`` defaulting to the config's file name, after
checking that the written files give the mmprompt model's logits (within
``--atol``, 1e-4) on a few test images (random images with ``--classes``).
A user mistake (a method that cannot be baked, a checkpoint of another
model, a bad opset, files that exist) stops it with one ``error: ...``
paragraph and exit status 2; ``--debug`` shows the traceback.
"""
import argparse
import os.path as osp
import sys

# Only the standard library is imported at the top: ``--help`` and a wrong
# command line answer at once.
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    """Parse the command line.

    Args:
        argv (list[str], optional): The arguments; defaults to sys.argv.

    Returns:
        argparse.Namespace: The options.
    """
    parser = argparse.ArgumentParser(
        description='Bake the class text features of a text-prompt model '
        'into a plain mmpretrain classifier (config + checkpoint, optionally '
        'ONNX) that runs without mmprompt')
    parser.add_argument('config', help='the config the model was trained with')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='its checkpoint; leave out for zero-shot CLIP (nothing trained)')
    parser.add_argument(
        '--out-dir', required=True, help='folder to write the files into')
    parser.add_argument(
        '--name',
        help='file name of the outputs without suffix; defaults to the '
        "config's file name")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        '--classes',
        help='comma-separated class names, e.g. "banded,striped" (default: '
        'the classes of the config\'s test set)')
    group.add_argument(
        '--classes-file', help='a text file with one class name a line')
    parser.add_argument(
        '--split',
        choices=['base', 'new', 'all'],
        help='the base/new selection of the classes of a CoOp test set '
        "(its `subsample`); default: the config's (base-to-new configs test "
        "on 'all', each image scored within its group)")
    parser.add_argument(
        '--onnx',
        action='store_true',
        help='also write <name>.onnx (normalised images -> logits), checked '
        'with onnxruntime')
    parser.add_argument(
        '--opset',
        type=int,
        default=17,
        help='ONNX opset (default 17; the TorchScript exporter does 14-20 '
        'for CLIP\'s attention)')
    parser.add_argument(
        '--dynamo',
        action='store_true',
        help="use torch's torch.export-based ONNX exporter (needs the "
        'onnxscript package) instead of the TorchScript one')
    parser.add_argument(
        '--force',
        action='store_true',
        help='overwrite files of the same name in --out-dir')
    parser.add_argument(
        '--untrained',
        action='store_true',
        help='export a config that trains prompts without a checkpoint '
        '(its initial prompts); without this flag that is an error')
    parser.add_argument(
        '--num-check-images',
        type=int,
        default=4,
        help='images the export is checked on (default 4)')
    parser.add_argument(
        '--atol',
        type=float,
        default=1e-4,
        help='largest allowed |logits difference| of the check (default '
        '1e-4)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        metavar='KEY=VALUE',
        help='override settings of the config, as in tools/test.py')
    parser.add_argument(
        '--debug',
        action='store_true',
        help='show the full traceback of a user error')
    args = parser.parse_args(argv)
    if args.split and (args.classes is not None or args.classes_file):
        parser.error('--split selects classes of the config\'s dataset; it '
                     'cannot be combined with --classes / --classes-file')
    if args.num_check_images < 1:
        parser.error('--num-check-images must be at least 1')
    if not args.atol > 0:
        parser.error('--atol must be positive')
    if args.opset < 1:
        parser.error(f'--opset {args.opset}: give an ONNX opset such as 17')
    if (args.opset != 17 or args.dynamo) and not args.onnx:
        parser.error('--opset and --dynamo apply to --onnx; add --onnx')
    return args


def import_mmprompt():
    """Import mmprompt, also from a checkout that is not installed."""
    try:
        import mmprompt  # noqa: F401
    except ImportError:
        sys.path.insert(0, REPO)
        import mmprompt  # noqa: F401


def _header(args, source, method: str) -> list:
    name = args.name or osp.splitext(osp.basename(args.config))[0]
    lines = [
        'Exported by mmprompt (tools/deployment/export_classifier.py) from',
        f'  config:     {args.config}',
        f'  checkpoint: {args.checkpoint or "(none: zero-shot)"}',
        f'  method:     {method}',
        f'  classes:    {source.description}',
        '',
        'A plain mmpretrain ImageClassifier: CLIP\'s image tower',
        '(VisionTransformer + LinearNeck, the projection) and an',
        'ArcFaceClsHead whose weight holds the class text features and whose',
        'scale is CLIP\'s logit scale. At inference it computes',
        '  logits = scale * normalize(image features) @ normalize(weight).T',
        '(the margin of ArcFace only enters its training loss). Load it',
        'without mmprompt:',
        '  from mmpretrain.apis import ImageClassificationInferencer',
        f"  infer = ImageClassificationInferencer('{name}.py',",
        f"                                        pretrained='{name}.pth')",
        "  infer('image.jpg')[0]['pred_class']",
    ]
    return lines


def run_export(args):
    """Export as the command line says; print what was written.

    Args:
        args (argparse.Namespace): The parsed command line.
    """
    from mmprompt.cli import explain_errors, load_config, merge_cfg_options
    from mmprompt.deployment import (ClassSource, check_bakeable_config,
                                     check_output, classes_from_config,
                                     config_test_pipeline, dataset_template,
                                     export_classifier, load_source_model,
                                     parse_class_list, read_classes_file)

    name = args.name or osp.splitext(osp.basename(args.config))[0]
    check_output(args.out_dir, name, args.onnx, args.force)
    cfg = merge_cfg_options(load_config(args.config), args.cfg_options)
    check_bakeable_config(cfg.model)
    pipeline = config_test_pipeline(cfg)
    if args.classes is not None or args.classes_file:
        classes = (
            parse_class_list(args.classes) if args.classes is not None else
            read_classes_file(args.classes_file))
        template, dataset_name = dataset_template(cfg)
        where = ('--classes' if args.classes is not None else
                 f'--classes-file {args.classes_file}')
        source = ClassSource(classes, f'{len(classes)} classes from {where}',
                             template, dataset_name)
    else:
        source = None
    with explain_errors(cfg):
        model = load_source_model(cfg, args.checkpoint,
                                  osp.basename(args.config), args.untrained)
        if source is None:
            source = classes_from_config(cfg, args.split,
                                         args.num_check_images)
        from mmprompt.engine.hooks.checkpoint_check import describe_method
        method = describe_method(model)
        result = export_classifier(
            model,
            cfg.model,
            source.classes,
            pipeline,
            args.out_dir,
            name,
            template=source.template,
            dataset_name=source.dataset_name,
            check_images=source.image_paths or None,
            check_description=f'{len(source.image_paths)} test images',
            num_check_images=args.num_check_images,
            atol=args.atol,
            onnx=args.onnx,
            opset=args.opset,
            dynamo=args.dynamo,
            force=args.force,
            header=_header(args, source, method),
            meta=dict(
                mmprompt_export=dict(
                    config=args.config,
                    checkpoint=args.checkpoint,
                    method=method,
                    classes=source.description)))
    print(f'method {result.method}: {source.description}, logit scale '
          f'{result.logit_scale:.4f}')
    print(f'checked on {result.check_images}: max |logits(exported) - '
          f'logits(mmprompt)| = {result.max_diff:.2e} (allowed {args.atol:g})')
    if result.onnx:
        print(f'ONNX (opset {args.opset}) with onnxruntime: max |logits(onnx) '
              f'- logits(mmprompt)| = {result.onnx_max_diff:.2e}')
    for path in (result.config, result.checkpoint, result.onnx):
        if path:
            size = osp.getsize(path)
            shown = (f'{size / 2**20:.1f} MiB'
                     if size >= 2**20 else f'{size / 2**10:.1f} KiB')
            print(f'wrote {path} ({shown})')
    print('load it with mmpretrain alone: ImageClassificationInferencer('
          f"'{result.config}', pretrained='{result.checkpoint}')")
    return result


def main(argv=None):
    """Parse the command line, then export behind the user-error boundary.

    Args:
        argv (list[str], optional): The arguments; defaults to sys.argv.
    """
    args = parse_args(argv)
    import_mmprompt()
    from mmprompt.cli import run_tool
    return run_tool(run_export, args, debug=args.debug)


if __name__ == '__main__':
    main()
