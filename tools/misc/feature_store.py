# Copyright (c) mmprompt contributors. All rights reserved.
"""Look into the feature store, or clear it.

The store folder is ``--root``, else ``$MMPROMPT_FEATURE_STORE``, else
``~/.cache/mmprompt/features`` (the folder the runs use). Examples::

    # what it holds: entries by kind, size, last use
    python tools/misc/feature_store.py info
    # delete the entries no run has read for 30 days (--dry-run: list them)
    python tools/misc/feature_store.py clean --unused-days 30
    # delete every entry
    python tools/misc/feature_store.py clean

``clean`` deletes only the store's own files (``<xx>/<key>.npy`` and
``.json``, and unfinished writes older than an hour); anything else in the
folder is listed and left alone. A run reading an entry while it is deleted
keeps its memory-mapped copy; the next run recomputes it.
"""
import argparse
import os.path as osp
import re
import sys
import time

from mmprompt.engine.feature_store import FeatureStore


def _mib(nbytes: float) -> str:
    return f'{nbytes / 2**20:.1f} MiB'


def info(store: FeatureStore) -> None:
    found = store.entries()
    entries = found['entries']
    total = sum(e['bytes'] for e in entries)
    print(f'{store.root}: {len(entries)} entries, {_mib(total)}')
    groups = {}
    for entry in entries:
        # 'epoch 3 training views of X' and 'epoch 4 ...' are one kind
        kind = re.sub(r'\b(epoch|view) \d+(/\d+)?', r'\1 N', entry['what'])
        count, size, last = groups.get(kind, (0, 0, 0))
        groups[kind] = (count + 1, size + entry['bytes'],
                        max(last, entry['last_used']))
    if groups:
        print('\n| entries of | count | size | last used |')
        print('| --- | --- | --- | --- |')
        for kind, (count, size, last) in sorted(groups.items()):
            when = time.strftime('%Y-%m-%d %H:%M', time.localtime(last))
            print(f'| {kind} | {count} | {_mib(size)} | {when} |')
    if found['partial']:
        print(f'\n{len(found["partial"])} unfinished write(s) (a run writing '
              'now, or one that was killed); clean deletes those older '
              'than an hour.')
    if found['foreign']:
        print(f'\n{len(found["foreign"])} file(s) that are not the store\'s '
              '(left alone by clean):')
        for path in found['foreign']:
            print(f'  {path}')


def clean(store: FeatureStore, unused_days, dry_run: bool) -> None:
    doomed = store.clean(unused_days, dry_run)
    verb = 'would delete' if dry_run else 'deleted'
    for path in doomed:
        print(f'{verb} {path}')
    entries = sum(p.endswith('.json') for p in doomed)
    print(f'{store.root}: {verb} {len(doomed)} file(s) ({entries} entries)')
    foreign = store.entries()['foreign']
    if foreign:
        print(f'left alone: {len(foreign)} file(s) that are not the '
              f'store\'s, e.g. {foreign[0]}')


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    for name in ('info', 'clean'):
        p = sub.add_parser(name)
        p.add_argument(
            '--root',
            help='the store folder (default: '
            '$MMPROMPT_FEATURE_STORE or ~/.cache/mmprompt/'
            'features)')
        if name == 'clean':
            p.add_argument(
                '--unused-days',
                type=float,
                metavar='DAYS',
                help='only entries no run has read for DAYS '
                'days (default: every entry)')
            p.add_argument(
                '--dry-run',
                action='store_true',
                help='list what would be deleted, delete nothing')
    args = parser.parse_args(argv)
    store = FeatureStore('feature-store-tool', root=args.root)
    if not osp.isdir(store.root):
        parser.error(f'{store.root} is not a folder: no feature store there '
                     '(give --root, or set MMPROMPT_FEATURE_STORE)')
    if args.command == 'info':
        info(store)
        return
    if args.unused_days is not None and args.unused_days < 0:
        parser.error(f'--unused-days {args.unused_days}: give a number of '
                     'days >= 0')
    clean(store, args.unused_days, args.dry_run)


if __name__ == '__main__':
    sys.exit(main())
