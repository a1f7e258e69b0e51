"""Child processes of the long-running commands (the consumers of `carecoord project`, the relay's
outbox reader): bound to the life of the process that started them."""

from __future__ import annotations

import logging
import os
import sys


def die_with_parent(parent: int) -> None:
    """Linux: the kernel sends SIGKILL to this process when the one that started it dies (even by
    SIGKILL, when it cannot shut its children down)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before the line above
        raise SystemExit(1)


def exit_now(status: int) -> None:
    """End a process whose work is done and whose connections are closed, without the
    interpreter's teardown: freeing a consumer's large cache object by object took two seconds."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
