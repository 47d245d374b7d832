# Copyright (c) mmprompt contributors. All rights reserved.
"""Classify your own images among any class names.

Examples:
    Zero-shot CLIP (no checkpoint), the config's template ``'{} texture.'``::

        python tools/classify.py data/procdtd/images/banded/banded_70.png \\
            --config configs/zeroshot/clip_tinyclip_procdtd.py \\
            --classes "banded,striped,zigzagged"

    A CoOp checkpoint with classes it was never trained on, drawing the
    predictions onto copies of the images::

        python tools/classify.py IMG1 IMG2 \\
            --config configs/coop/coop_tinyclip_procdtd.py \\
            --checkpoint work_dirs/classify_coop/epoch_50.pth \\
            --classes-file classes.txt --topk 3 --out-dir work_dirs/drawn

Prints one row per image and rank: the image, the rank, the class and its
score (the softmax probability over the given classes). Logs (which weights
were loaded, and warnings, e.g. about words the tiny CLIP does not know) go
to stderr; the table goes to stdout.

A user mistake (a missing image or checkpoint, an empty or repeated class
name, a ``--topk`` out of range, a template without ``{}``, a checkpoint of
another method) stops the tool with one ``error: ...`` paragraph and exit
status 2; ``--debug`` shows the traceback.
"""
import argparse
import itertools
import logging
import os.path as osp
import sys

# Only the standard library is imported at the top: ``--help`` and a wrong
# command line answer at once; torch, mmengine and mmprompt load in main().
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
_LOGGER_IDS = itertools.count()


class KeyValueAction(argparse.Action):
    """Collect ``key=value`` strings (parsed later, like ``DictAction``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        for value in values:
            if '=' not in value or value.startswith('='):
                parser.error(f"{option_string} takes KEY=VALUE pairs, got "
                             f"'{value}' (e.g. model.head.logit_scale=50)")
        items = list(getattr(namespace, self.dest, None) or []) + values
        setattr(namespace, self.dest, items)


def parse_args(argv=None):
    """Parse the command line.

    Args:
        argv (list[str], optional): The arguments; defaults to sys.argv.

    Returns:
        argparse.Namespace: The options.
    """
    parser = argparse.ArgumentParser(
        description='Classify images among any class names with a '
        'prompt-learning model (zero-shot CLIP, CoOp, MaPLe, ...)')
    parser.add_argument(
        'images',
        nargs='+',
        metavar='IMAGE',
        help='image files, or folders (their image files are classified)')
    parser.add_argument(
        '--config', required=True, help='the config of the model')
    parser.add_argument(
        '--checkpoint',
        help='a checkpoint of that config (work_dirs/<run>/epoch_N.pth); '
        'leave out for zero-shot configs')
    names = parser.add_mutually_exclusive_group(required=True)
    names.add_argument(
        '--classes',
        help='the class names, comma-separated: "banded,striped,zigzagged"')
    names.add_argument(
        '--classes-file',
        metavar='FILE',
        help='a text file with one class name a line (blank lines and lines '
        'starting with # are skipped)')
    parser.add_argument(
        '--template',
        help='the prompt template of zero-shot configs, e.g. '
        '"a photo of a {}."; defaults to the config dataset\'s template '
        '(CoOp\'s, e.g. "{} texture." for DTD)')
    parser.add_argument(
        '--topk',
        type=int,
        help='predictions per image; defaults to 5, or the number of classes '
        'when fewer')
    parser.add_argument(
        '--out-dir',
        help='write each image with its top-k predictions drawn on it to '
        'this folder (<image name>.png; the inputs are never overwritten)')
    parser.add_argument(
        '--batch-size', type=int, default=1, help='images per model call')
    parser.add_argument(
        '--device',
        help='cpu, cuda, cuda:1, ...; defaults to cuda when available')
    parser.add_argument(
        '--untrained',
        action='store_true',
        help='classify with a config that trains prompts but without a '
        'checkpoint, i.e. with its initial prompts; without this flag that '
        'is an error')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=KeyValueAction,
        metavar='KEY=VALUE',
        help='override settings of the config, as in tools/test.py, e.g. '
        'model.backbone.pretrained=/path/ViT-B-16.pt')
    parser.add_argument(
        '--debug',
        action='store_true',
        help='show the full traceback of a user error instead of the '
        'one-line explanation')
    return parser.parse_args(argv)


def import_mmprompt():
    """Import mmprompt, also from a checkout that is not installed."""
    try:
        import mmprompt  # noqa: F401
    except ImportError:
        sys.path.insert(0, REPO)
        import mmprompt  # noqa: F401


def parse_class_list(text: str) -> list:
    """The names of ``--classes "a,b,c"``.

    Args:
        text (str): Comma-separated class names (spaces around a name are
            dropped).

    Returns:
        list[str]: The names.

    Raises:
        ConfigError: No name, or an empty one (``"a,,b"``).
    """
    from mmprompt.errors import ConfigError
    if not text.strip():
        raise ConfigError(
            f'--classes {text!r} names no class: give comma-separated class '
            'names, e.g. --classes "banded,striped,zigzagged" (or '
            '--classes-file FILE with one name a line).')
    names = [name.strip() for name in text.split(',')]
    for i, name in enumerate(names, 1):
        if not name:
            raise ConfigError(
                f'--classes {text!r}: name {i} of {len(names)} is empty (two '
                'commas in a row, or one at the start or end); remove the '
                'extra comma.')
    return names


def read_class_file(path: str) -> list:
    """The names of ``--classes-file``: one a line.

    Args:
        path (str): The file.

    Returns:
        list[str]: The names, without blank and ``#`` lines.

    Raises:
        PathNotFoundError: The file does not exist.
        ConfigError: It names no class.
    """
    from mmprompt.errors import ConfigError, PathNotFoundError
    if not osp.isfile(path):
        raise PathNotFoundError(
            f"--classes-file '{path}' does not exist (or is a folder); give "
            'a text file with one class name a line.')
    try:
        with open(path, encoding='utf-8') as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"--classes-file '{path}' is not UTF-8 text ({err}); give a "
            'text file with one class name a line.') from err
    names = [line.strip() for line in lines]
    names = [name for name in names if name and not name.startswith('#')]
    if not names:
        raise ConfigError(
            f"--classes-file '{path}' names no class (it is empty, or holds "
            'only blank and # lines); write one class name a line.')
    return names


def use_stderr_for_logs():
    """Log warnings and errors only, and to stderr (the table is stdout)."""
    from mmengine.logging import MMLogger

    # A new instance is the 'current' logger that mmprompt logs to (a
    # second run in one process gets a new one too).
    name = f'mmprompt-classify-{next(_LOGGER_IDS)}'
    logger = MMLogger.get_instance(name, log_level='WARNING')
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler) and getattr(
                handler, 'stream', None) is sys.stdout:
            handler.setStream(sys.stderr)


def format_table(results: list) -> str:
    """The rows ``image  rank  class  score`` of the results.

    Args:
        results (list[dict]): What the inferencer returned, with an
            ``image`` entry each (how the image was named).

    Returns:
        str: The table, a header line first.
    """
    rows = [('image', 'rank', 'class', 'score')]
    for result in results:
        for rank, (name, score) in enumerate(
                zip(result['topk_classes'], result['topk_scores']), 1):
            rows.append((result['image'], str(rank), name, f'{score:.4f}'))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for row in rows:
        lines.append('  '.join([
            row[0].ljust(widths[0]), row[1].rjust(widths[1]),
            row[2].ljust(widths[2]), row[3].rjust(widths[3])
        ]).rstrip())
    return '\n'.join(lines)


def run_classify(args):
    """Classify as the command line says.

    Args:
        args (argparse.Namespace): The parsed command line.

    Returns:
        list[dict]: The inferencer's results.
    """
    from mmprompt.apis import (PromptClassificationInferencer, check_classes,
                               check_template, check_topk, collect_inputs,
                               uses_template)
    from mmprompt.cli import check_checkpoint

    # What can be checked without the model, before building it.
    if args.classes is not None:
        classes = check_classes(parse_class_list(args.classes), '--classes')
    else:
        classes = check_classes(
            read_class_file(args.classes_file),
            f"--classes-file '{args.classes_file}'")
    if args.template is not None:
        check_template(args.template, '--template')
    topk = check_topk(args.topk, len(classes), '--topk')
    if args.batch_size < 1:
        from mmprompt.errors import ConfigError
        raise ConfigError(
            f'--batch-size {args.batch_size}: give 1 or more images per call.')
    check_checkpoint(args.checkpoint, '--checkpoint')
    items = collect_inputs(list(args.images))
    if args.out_dir is not None:  # refuse to overwrite an input, early
        PromptClassificationInferencer.plan_out_files(items, args.out_dir)

    use_stderr_for_logs()
    inferencer = PromptClassificationInferencer(
        args.config,
        checkpoint=args.checkpoint,
        device=args.device,
        untrained=args.untrained,
        cfg_options=args.cfg_options)
    results = inferencer(
        items,
        classes=classes,
        template=args.template,
        topk=topk,
        batch_size=args.batch_size,
        out_dir=args.out_dir)

    for result in results:
        result['image'] = result['img_path']
    what = [
        f'config {args.config} ({inferencer.method})',
        f'checkpoint {args.checkpoint}'
        if args.checkpoint else 'no checkpoint', f'{len(classes)} classes'
    ]
    if uses_template(inferencer.head.prompt_learner):
        what.append(f'template {args.template or inferencer.template!r}')
    print(', '.join(what))
    print(format_table(results))
    for result in results:
        if 'out_file' in result:
            print(f"drawn: {result['out_file']}")
    return results


def main(argv=None):
    """Parse the command line, then classify behind the user-error boundary.

    Args:
        argv (list[str], optional): The arguments; defaults to sys.argv.

    Returns:
        list[dict]: The inferencer's results.
    """
    args = parse_args(argv)
    import_mmprompt()
    from mmprompt.cli import run_tool
    return run_tool(run_classify, args, debug=args.debug)


if __name__ == '__main__':
    main()
