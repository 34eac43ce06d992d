"""Checkpoints that load safely and survive a kill, a rerun and a second training:
:mod:`.safety` (fairseq's checkpoint classes on torch's ``weights_only`` allowlist; imports
torch and fairseq) and :mod:`.hooks` (atomic checkpoint writes and copies, the torn-checkpoint
check, the save_dir lock and the finished-run check; fairseq is imported only when the hooks
are installed). :mod:`gcaf_fairseq.tasks` installs both."""

from .hooks import (  # noqa: F401
    LOCK_NAME,
    CheckpointError,
    SaveDirInUseError,
    SaveDirLock,
    TornCheckpointError,
    TrainingComplete,
    check_restore_file,
    checkpoint_problem,
    completion_reason,
    hold_save_dir,
    install_checkpoint_hooks,
    intact_checkpoints,
)
