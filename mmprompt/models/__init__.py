# Copyright (c) mmprompt contributors. All rights reserved.
from .classifiers import *  # noqa: F401,F403
from .clip import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .prompt_learners import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403
