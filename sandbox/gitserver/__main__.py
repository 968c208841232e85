"""`python -m sandbox.gitserver WORKSPACE REPO`: the pre-receive hook."""

import sys

from .hook import hook_main

sys.exit(hook_main(sys.argv[1:]))
