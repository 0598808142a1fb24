"""Process entry of the psp-proxy security processor: serve the host on stdin/stdout."""

from __future__ import annotations

import logging
import sys

from .psp import serve

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="psp: %(name)s: %(message)s")
    serve(sys.stdin.buffer, sys.stdout.buffer)
