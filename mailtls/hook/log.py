"""The hook's log: one line per action on stderr and, where /dev/log exists, to syslog."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys

DEV_LOG = "/dev/log"


def shown(text: object) -> str:
    """Paths and names are hostile text: control and bidi characters are escaped."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in str(text))


class _Syslog(logging.handlers.SysLogHandler):
    def handleError(self, record: logging.LogRecord) -> None:
        """A syslog that goes away mid-run loses lines; it never prints a traceback."""


def hook_logger(stderr: bool = True, dev_log: str = DEV_LOG) -> logging.Logger:
    """A logger of its own (the hook may run twice in one test process: handlers are set
    anew each time). A syslog that cannot be reached is left out, never an error."""
    logger = logging.getLogger("mailtls.hook")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    if stderr:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("mailtls hook: %(message)s"))
        logger.addHandler(console)
    if os.path.exists(dev_log):
        try:
            syslog = _Syslog(address=dev_log, facility=logging.handlers.SysLogHandler.LOG_DAEMON)
        except OSError:
            pass  # a socket nobody listens on: stderr is enough
        else:
            syslog.setFormatter(logging.Formatter("mailtls[%(process)d]: hook: %(message)s"))
            logger.addHandler(syslog)
    return logger
