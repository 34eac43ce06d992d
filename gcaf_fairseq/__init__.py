"""gcaf-fairseq: context-aware and generative context-aware fine-tuning of wav2vec2.

Two layers share this package:

- the **plugin** (``modules``, ``models``, ``criterions``, ``tasks``, ``data``, ``decoding``),
  which fairseq loads with ``--user-dir``; and
- the **tools** (``prep``, ``generation``, ``embedding``, ``scoring``, ``cli``), which import
  neither torch nor fairseq unless a tool needs them.

Registration (the task, the models and the criteria, and fairseq's checkpoint classes on
torch's ``weights_only`` allowlist) is :func:`register`. It runs by itself when

- fairseq imports the plugin (``--user-dir .../gcaf_fairseq``, ``common.user_dir=...``), and
- Python imports the package itself (``import gcaf_fairseq``);

but not when Python imports one of its subpackages directly (``import gcaf_fairseq.scoring``,
``from gcaf_fairseq.prep import prepare_slue``, the ``gcaf-*`` tools), so that those stay
light. Code that imports a subpackage first and needs the plugin later calls
``gcaf_fairseq.register()`` (idempotent).
"""

import sys

__all__ = ["register"]

_registered = False


def register() -> None:
    """Register the plugin with fairseq, allowlist the classes fairseq checkpoints pickle
    (see :mod:`gcaf_fairseq.checkpoint_safety`) and install the checkpoint hooks: atomic
    checkpoint writes and copies, the torn-checkpoint check, the save_dir lock and the
    finished-run check of training (see :mod:`gcaf_fairseq.checkpoints`). Imports torch and
    fairseq; idempotent."""
    global _registered
    if _registered:
        return
    _registered = True  # first: the subpackages imported below call register() themselves
    try:
        from .checkpoint_safety import allow_fairseq_checkpoint_classes
        from .checkpoints import install_checkpoint_hooks

        allow_fairseq_checkpoint_classes()
        install_checkpoint_hooks()
        from . import criterions, models, tasks  # noqa: F401  (registration by decorators)
    except BaseException:
        _registered = False
        raise


def _imported_for_a_subpackage() -> bool:
    """Whether this import runs only as the parent of ``gcaf_fairseq.<something>``: the
    import machinery's frames above us then hold that longer module name."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            name = frame.f_locals.get("name")
            if isinstance(name, str) and name.startswith(__name__ + "."):
                return True
        frame = frame.f_back
    return False


if "fairseq" in sys.modules or not _imported_for_a_subpackage():
    register()
