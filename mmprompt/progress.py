# Copyright (c) mmprompt contributors. All rights reserved.
"""Live progress of training and test runs that write to a log file.

``tools/demo.py`` and ``tools/run_protocol.py`` start ``tools/train.py``
and ``tools/test.py`` as subprocesses whose output goes to a log file.
:func:`run_logged` follows that file while the subprocess runs (it reads
what was added about once a second), :class:`LogState` reads mmengine's log
lines from it (``Epoch(train) [k][i/n] ... eta: ... loss: ...``, the
``train_cfg`` line of the config dump for the number of epochs, and the
``Epoch(val)`` / ``Epoch(test)`` lines), and :class:`Progress` shows it:

- on a terminal, one status line refreshed in place with ``\\r`` (cut to
  the terminal's width), e.g.
  ``[2/6] coop seed 1 | train epoch 13/50 iter 8/8 | loss 0.8123 |
  elapsed 0:00:21 | eta 0:00:39``;

- elsewhere (a CI log, a file), plain lines without ``\\r`` or escape
  codes: one when a run starts, one at most every ``interval`` seconds
  (30 by default) while it runs, and the caller's line when it ends.

Example:
    >>> import io
    >>> progress = Progress(total=1, stream=io.StringIO())
    >>> progress.start(1, 'coop seed 1')
    >>> progress.step('train')
    >>> progress.feed('train_cfg = dict(by_epoch=True, max_epochs=50)')
    >>> progress.feed('Epoch(train) [3][8/8]  lr: 2.0e-03  eta: 0:00:39  '
    ...               'time: 0.05  loss: 0.8123')
    >>> progress.state.describe()
    'train epoch 3/50 iter 8/8 | loss 0.8123'
"""
import os
import re
import shutil
import subprocess
import sys
import time
from typing import IO, Callable, Optional, Sequence

__all__ = ['LogState', 'Progress', 'format_seconds', 'run_logged']

_TRAIN = re.compile(r'Epoch\(train\)\s*\[\s*(\d+)\s*\]\s*\[\s*(\d+)\s*/\s*'
                    r'(\d+)\s*\]')
_TRAIN_ITER = re.compile(r'Iter\(train\)\s*\[\s*(\d+)\s*/\s*(\d+)\s*\]')
_VAL = re.compile(r'(?:Epoch|Iter)\(val\)\s*(?:\[\s*(\d+)\s*\]\s*)?'
                  r'\[\s*(\d+)\s*/\s*(\d+)\s*\]')
_TEST = re.compile(r'(?:Epoch|Iter)\(test\)\s*\[\s*(\d+)\s*/\s*(\d+)\s*\]')
_LOSS = re.compile(r'(?<![\w/])loss: (-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|nan|'
                   r'inf)')
_ETA = re.compile(r'\beta: (?:(\d+) days?, )?(\d+):(\d\d):(\d\d)')
_MAX_EPOCHS = re.compile(r'\bmax_epochs=(\d+)')
_MAX_ITERS = re.compile(r'\bmax_iters=(\d+)')


def format_seconds(seconds: Optional[float]) -> str:
    """``H:MM:SS`` of a duration, ``--:--:--`` when it is unknown.

    Args:
        seconds (float, optional): The duration; None when unknown.

    Returns:
        str: E.g. ``'0:01:05'`` for 65 s (rounded to the second).

    Example:
        >>> format_seconds(3725.4)
        '1:02:05'
    """
    if seconds is None:
        return '--:--:--'
    seconds = max(0, int(round(seconds)))
    return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


class LogState:
    """What a run has done so far, read from its mmengine log lines.

    Args:
        clock (Callable[[], float]): The time in seconds (to age the ETA
            of the last log line). Defaults to ``time.monotonic``.

    Attributes:
        phase (str | None): ``'train'``, ``'val'`` or ``'test'``; None
            before the first progress line (the run is starting: building
            the model, reading the data).
        epoch (int | None): The training epoch of the last train or val
            line.
        max_epochs (int | None): ``train_cfg.max_epochs`` from the config
            the log prints before training (or ``max_iters`` of an
            iteration-based run).
        iter (int | None): The iteration of the last line, in its epoch.
        iters (int | None): The iterations of that epoch (or test set).
        loss (float | None): The last logged ``loss``.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.phase: Optional[str] = None
        self.epoch: Optional[int] = None
        self.max_epochs: Optional[int] = None
        self.by_iter = False
        self.iter: Optional[int] = None
        self.iters: Optional[int] = None
        self.loss: Optional[float] = None
        self._eta: Optional[float] = None
        self._eta_at: Optional[float] = None
        self._in_train_cfg = False

    def feed(self, line: str) -> bool:
        """Read one log line.

        Args:
            line (str): A line of the run's log (without its newline).

        Returns:
            bool: Whether the line changed the state.
        """
        # The config dump: ``train_cfg = dict(...)``, maybe over several
        # indented lines.
        if line.startswith('train_cfg = dict('):
            self._in_train_cfg = True
        elif self._in_train_cfg and not line[:1].isspace():
            self._in_train_cfg = False
        if self._in_train_cfg:
            for pattern, by_iter in ((_MAX_EPOCHS, False), (_MAX_ITERS, True)):
                match = pattern.search(line)
                if match:
                    self.max_epochs = int(match.group(1))
                    self.by_iter = by_iter
                    self._in_train_cfg = False
            return False
        match = _TRAIN.search(line)
        if match:
            self.phase = 'train'
            self.epoch, self.iter, self.iters = map(int, match.groups())
        elif _TRAIN_ITER.search(line):
            match = _TRAIN_ITER.search(line)
            self.phase, self.by_iter = 'train', True
            self.iter, self.iters = map(int, match.groups())
            self.epoch = None
        elif _VAL.search(line):
            match = _VAL.search(line)
            self.phase = 'val'
            if match.group(1):
                self.epoch = int(match.group(1))
            self.iter, self.iters = int(match.group(2)), int(match.group(3))
        elif _TEST.search(line):
            match = _TEST.search(line)
            self.phase = 'test'
            self.iter, self.iters = map(int, match.groups())
        else:
            return False
        loss = _LOSS.search(line)
        if loss and self.phase == 'train':
            self.loss = float(loss.group(1))
        eta = _ETA.search(line)
        if eta:
            days, hours, minutes, seconds = (int(g or 0) for g in eta.groups())
            self._eta = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
            self._eta_at = self.clock()
        elif self.phase in ('val', 'test') and self.iter == self.iters:
            self._eta, self._eta_at = 0.0, self.clock()
        return True

    @property
    def eta(self) -> Optional[float]:
        """Seconds left in the current phase, by mmengine's last estimate.

        The ``eta`` of the last line that had one, less the time since it
        was read; None before the first such line.
        """
        if self._eta is None:
            return None
        return max(0.0, self._eta - (self.clock() - self._eta_at))

    def describe(self) -> str:
        """The state in a few words, e.g. ``train epoch 3/50 iter 8/8``.

        Returns:
            str: ``'starting'`` before the first progress line, else the
            phase, epoch (of the number of epochs, when the config told it),
            iteration and, in training, ``| loss <value>``.
        """
        if self.phase is None:
            return 'starting'
        of = f'/{self.max_epochs}' if self.max_epochs else ''
        if self.phase == 'train':
            if self.by_iter:
                text = f'train iter {self.iter}{of}'
            else:
                text = (f'train epoch {self.epoch}{of} iter '
                        f'{self.iter}/{self.iters}')
            if self.loss is not None:
                text += f' | loss {self.loss:.4f}'
            return text
        if self.phase == 'val':
            epoch = f' (epoch {self.epoch}{of})' if self.epoch else ''
            return f'val{epoch} {self.iter}/{self.iters}'
        return f'test {self.iter}/{self.iters}'


class Progress:
    """Show which run of how many is going and how far it has got.

    Args:
        total (int): How many runs there are.
        stream (IO, optional): Where to write. Defaults to ``sys.stdout``
            (looked up when used, so a captured stdout is honoured).
        interval (float): Seconds between two progress lines when
            ``stream`` is not a terminal. Defaults to 30.
        clock (Callable[[], float]): The time in seconds. Defaults to
            ``time.monotonic``.
        tty (bool, optional): Whether to redraw one status line with
            ``\\r``; defaults to ``stream.isatty()``.
        width (int, optional): The terminal's columns; the status line is
            cut to one less, so that it never wraps. Defaults to the
            terminal's size (100 when unknown).
    """

    def __init__(self,
                 total: int,
                 stream: Optional[IO[str]] = None,
                 interval: float = 30.0,
                 clock: Callable[[], float] = time.monotonic,
                 tty: Optional[bool] = None,
                 width: Optional[int] = None):
        self.total = total
        self.width = width
        self._stream = stream
        self.interval = interval
        self.clock = clock
        self._tty = tty
        self.index = 0
        self.label = ''
        self.started: Optional[float] = None
        self.state = LogState(clock)
        self._step = ''
        self._shown = 0  # characters of the status line on screen
        self._last_line: Optional[float] = None

    @property
    def stream(self) -> IO[str]:
        """The stream progress is written to."""
        return self._stream if self._stream is not None else sys.stdout

    @property
    def tty(self) -> bool:
        """Whether the status line is redrawn in place."""
        if self._tty is not None:
            return self._tty
        isatty = getattr(self.stream, 'isatty', None)
        return bool(isatty and isatty())

    @property
    def prefix(self) -> str:
        """``[i/n] label`` of the current run."""
        return f'[{self.index}/{self.total}] {self.label}'

    def start(self, index: int, label: str) -> None:
        """Begin run ``index`` (1-based) of :attr:`total`.

        Args:
            index (int): The run's number.
            label (str): What it is (config, seed); shown on every line.
        """
        self.index, self.label = index, label
        self.started = self.clock()
        self.state = LogState(self.clock)
        self._step = ''
        if self.tty:
            self.refresh()
        else:
            self._line(f'{self.prefix}: started')

    def step(self, name: str) -> None:
        """Begin a step of the run (a new log, e.g. ``'train'``).

        Args:
            name (str): The step, shown when its log has no progress yet.
        """
        self._step = name
        self.state = LogState(self.clock)

    def feed(self, line: str) -> None:
        """Read one line of the current step's log."""
        self.state.feed(line)

    def status(self) -> str:
        """The status line: run, state, elapsed time and ETA.

        Returns:
            str: E.g. ``[2/6] coop seed 1 | train epoch 3/50 iter 8/8 |
            loss 0.8123 | elapsed 0:00:21 | eta 0:00:39``.
        """
        state = self.state.describe()
        if self.state.phase is None and self._step:
            state = f'{self._step}: starting'
        elapsed = (None if self.started is None else self.clock() -
                   self.started)
        return (f'{self.prefix} | {state} | elapsed '
                f'{format_seconds(elapsed)} | eta '
                f'{format_seconds(self.state.eta)}')

    def refresh(self) -> None:
        """Show the status: redraw it, or print a line when it is time."""
        if self.tty:
            width = (self.width or shutil.get_terminal_size(
                (100, 24)).columns) - 1
            text = self.status()[:max(width, 20)]
            pad = ' ' * max(0, self._shown - len(text))
            self.stream.write('\r' + text + pad)
            self.stream.flush()
            self._shown = len(text)
        elif (self._last_line is None
              or self.clock() - self._last_line >= self.interval):
            self._line(self.status())

    def clear(self) -> None:
        """Remove the status line from a terminal (nothing otherwise)."""
        if self.tty and self._shown:
            self.stream.write('\r' + ' ' * self._shown + '\r')
            self.stream.flush()
            self._shown = 0

    def write(self, text: str) -> None:
        """Print a line of the caller's (a run's result) in place of the
        status line.

        Args:
            text (str): The line, without a newline.
        """
        self.clear()
        self._line(text)

    def _line(self, text: str) -> None:
        self.stream.write(text + '\n')
        self.stream.flush()
        self._last_line = self.clock()


def run_logged(cmd: Sequence[str],
               log_path: str,
               progress: Optional[Progress] = None,
               step: str = '',
               cwd: Optional[str] = None,
               env: Optional[dict] = None,
               poll: float = 1.0) -> int:
    """Run a command with its output in a log file, following the log.

    Every ``poll`` seconds (while waiting on the process, not spinning)
    the lines added to the log are fed to ``progress`` and it is refreshed.

    Args:
        cmd (Sequence[str]): The command.
        log_path (str): The log file (stdout and stderr); overwritten.
        progress (Progress, optional): Where to show the progress; None
            runs the command quietly. Defaults to None.
        step (str): The step's name for :meth:`Progress.step`. Defaults to
            ``''``.
        cwd (str, optional): The working directory. Defaults to None.
        env (dict, optional): The environment; defaults to this process's
            with ``PYTHONUNBUFFERED=1`` (so the log is written line by
            line).
        poll (float): Seconds between two reads of the log. Defaults to 1.

    Returns:
        int: The command's exit status.
    """
    if env is None:
        env = dict(os.environ, PYTHONUNBUFFERED='1')
    if progress is not None:
        progress.step(step)
    with open(log_path, 'w') as log, \
            open(log_path, encoding='utf-8', errors='replace',
                 newline='') as reader:
        proc = subprocess.Popen(
            list(cmd), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        partial = ''

        def read(final=False):
            nonlocal partial
            text = partial + reader.read()
            lines = re.split(r'\r\n|\r|\n', text)
            partial = '' if final else lines.pop()
            if progress is not None:
                for line in lines:
                    progress.feed(line)

        try:
            while True:
                try:
                    code = proc.wait(timeout=poll)
                    break
                except subprocess.TimeoutExpired:
                    pass
                read()
                if progress is not None:
                    progress.refresh()
        except BaseException:  # Ctrl-C: do not leave the run behind
            proc.terminate()
            proc.wait()
            raise
        read(final=True)
    return code
