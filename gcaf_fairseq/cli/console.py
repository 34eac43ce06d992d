"""What the ``gcaf-*`` console tools print on stderr: their own messages, in one format.

Importing fairseq configures logging for the whole process: one of its modules
(``fairseq/models/wav2vec/wav2vec2_classification.py``) calls
``logging.basicConfig(level=DEBUG)``, another (``fairseq/tasks/text_to_speech.py``) logs
``Please install tensorboardX`` at INFO when tensorboardX is missing, and hydra and omegaconf
warn about their own deprecations. A tool's warnings then drown in thousands of DEBUG lines.

:func:`setup_logging`, the first call of every tool's ``main()``:

- one handler on the root logger, writing to (the current) ``sys.stderr`` as
  ``LEVEL logger.name: message``; the plain stream handlers that ``logging.basicConfig``
  installed before (fairseq's, where fairseq was imported first) are removed, other handlers
  (pytest's, a user's file handler) are kept; once it is there, fairseq's later
  ``basicConfig`` calls do nothing;
- the root logger at WARNING, so every other library shows warnings and errors only;
  ``fairseq``, ``fairseq_cli``, ``hydra`` and ``omegaconf`` at WARNING too (whatever they set
  on themselves), which drops the tensorboardX line (INFO);
- our loggers (``gcaf_fairseq``, ``gcaf_demo``) at INFO;
- filtered out of ``warnings``: hydra's and omegaconf's (deprecation notices), and the
  deprecation warnings that fairseq's calls of since-deprecated torch APIs raise on this
  stack (``weight_norm``, ``torch.cuda.amp.autocast``, ``pin_memory`` without a GPU).

stdout is left alone: the tools' JSON summaries stay the only thing on it. Idempotent.
"""

import logging
import sys
import warnings

FORMAT = "%(levelname)s %(name)s: %(message)s"
OUR_LOGGERS = ("gcaf_fairseq", "gcaf_demo")
QUIET_LOGGERS = ("fairseq", "fairseq_cli", "hydra", "omegaconf")

# warnings.filterwarnings message patterns (matched at the start of the message)
_FILTERED_MESSAGES = (
    r"(?s).*hydra\.cc/docs",  # hydra's upgrade notices all link its docs
    r"(?s).*version_base parameter is not specified",
    r"(?s).*deprecated keyword in package header",
    r"(?s).*Defaults list is missing `_self_`",
    r"(?s).*will no longer change working directory",
    r"`torch\.nn\.utils\.weight_norm` is deprecated",  # fairseq's wav2vec2 positional conv
    r"'pin_memory' argument is set as true but no accelerator is found",  # fairseq's iterators on CPU
)
_HYDRA_MODULES = r"(hydra|omegaconf)(\..*)?$"
_FAIRSEQ_MODULES = r"(fairseq|fairseq_cli)(\..*)?$"


class _CurrentStderrHandler(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is when a record is emitted
    (pytest and other callers swap it)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def setup_logging(level: int = logging.INFO) -> None:
    """Configure logging and warnings for a console tool (see the module docstring); our
    loggers at ``level``."""
    root = logging.getLogger()
    if not any(isinstance(handler, _CurrentStderrHandler) for handler in root.handlers):
        for handler in list(root.handlers):
            if type(handler) is logging.StreamHandler:  # logging.basicConfig's (fairseq imported first)
                root.removeHandler(handler)
        handler = _CurrentStderrHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in OUR_LOGGERS:
        logging.getLogger(name).setLevel(level)
    for pattern in _FILTERED_MESSAGES:
        warnings.filterwarnings("ignore", message=pattern)
    warnings.filterwarnings("ignore", module=_HYDRA_MODULES)
    for category in (DeprecationWarning, FutureWarning):  # fairseq's calls of since-deprecated torch APIs
        warnings.filterwarnings("ignore", category=category, module=_FAIRSEQ_MODULES)
