"""``python -m dlcore``: the interrupt handler goes in before anything heavy is imported."""
import sys

from . import interrupt

interrupt.install()
try:
    from .cli import main

    code = main()
except KeyboardInterrupt:
    print("dlcore: interrupted", file=sys.stderr)
    code = 130
interrupt.settle()  # a signal while the process exits must not change how it exits
raise SystemExit(code)
