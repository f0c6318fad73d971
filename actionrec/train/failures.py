"""What a training run says when a horovod rank fails, and which checkpoint `dvc repro` resumes from.

horovodrun (Gloo) stops every rank once one exits non-zero: the others' collectives fail
("Horovod has been shut down", see ``distributed.peer_failed``) or they get SIGTERM. Each rank
still alive prints one line instead of a traceback, and dvc.yaml's fallback
(``horovodrun ... || python -m stages.train <arch> --after-failure``) ends the output with the
last checkpoint, which also covers one process, where no rank survives to explain.

Light on purpose: ``--after-failure`` must not import TensorFlow.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from actionrec.train import checkpoints

RESUME = "completed epochs are checkpointed and `dvc repro` resumes after the last one"
PEER_FAILED = 75  # exit status of a rank that stopped because another one failed (EX_TEMPFAIL: retry)
EXIT_CODES = (
    "137: killed, e.g. out of memory, or killed by horovodrun after it stopped answering; "
    f"{PEER_FAILED}: stopped because another rank failed; 143: stopped by SIGTERM, as horovodrun stops the "
    "other ranks once one has failed; "
    "other codes: the rank's own error, printed above"
)


class Terminated(BaseException):
    """SIGTERM: how horovodrun stops the remaining ranks once one has failed (and on Ctrl-C).

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way swallows it.
    """


def _raise_terminated(signum, frame):
    raise Terminated


def _stop(message: str, code: int) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no interpreter teardown: horovod is down, or horovodrun kills this rank in 5 s


def run_rank(work, who: str):
    """``work()`` on this rank; a peer's failure or SIGTERM ends it with one line, not a traceback."""
    from actionrec.cluster import distributed

    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return work()
    except (Exception, Terminated) as err:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a SIGTERM now would cut the message short
        if distributed.peer_failed(err):
            _stop(
                f"{who} stopped: another rank failed or stopped answering, so horovod shut down "
                f'(horovodrun\'s "Process N exit with status code C" lines say which); {RESUME}',
                PEER_FAILED,
            )
        if isinstance(err, Terminated):
            _stop(
                f"{who} was stopped by SIGTERM (horovodrun sends it to the remaining ranks once one has failed, and on Ctrl-C); {RESUME}",
                143,
            )
        raise


def after_failure(arch: str, checkpoints_dir: Path) -> None:
    """The last word of a failed ``horovodrun``: how ranks ended, and where training resumes."""
    last = checkpoints.last_epoch(checkpoints_dir)
    if last:
        resume = (
            f"The last checkpoint is epoch {last[0]} ({last[1]}/): `dvc repro` resumes after it, "
            "unless params, data or seed have changed since"
        )
    else:
        resume = "No epoch had completed: `dvc repro` starts the training over"
    print(
        f'error: train {arch} failed. horovodrun\'s "Process N exit with status code C" lines above say how each '
        f"rank ended ({EXIT_CODES}). {resume}.",
        file=sys.stderr,
    )
    sys.exit(1)
