"""Lightning loggers by name, for ``vatrack train --logger csv|mlflow|wandb|tensorboard``.

Every run writes RUN_DIR/history.csv (vatrack.training.history: one row per epoch); that is
the ``csv`` logger, the default. Another kind adds a second Lightning logger that receives the
same per-epoch figures and the resolved config as hyperparameters.
``make_logger(kind, run_dir)`` returns it (None for csv), writing inside the run folder:

* ``mlflow``: tracking URI ``sqlite:///RUN_DIR/mlflow.db`` unless MLFLOW_TRACKING_URI is set
  (artifacts under RUN_DIR/mlruns), experiment "vatrack";
* ``wandb``: offline into RUN_DIR/wandb unless WANDB_MODE=online or WANDB_API_KEY is set;
* ``tensorboard``: RUN_DIR/tensorboard (needs tensorboard or tensorboardX).

A logger whose package is not installed is one VatrackError line saying what to install;
nothing is imported until asked for, so the CSV default costs nothing.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from vatrack.errors import VatrackError

LOGGERS = ("csv", "mlflow", "wandb", "tensorboard")
# Which importable module each logger needs, and the pip name that provides it.
_NEEDS = {"mlflow": (("mlflow",), "mlflow"), "wandb": (("wandb",), "wandb"),
          "tensorboard": (("tensorboard", "tensorboardX"), "tensorboard")}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_logger(kind: str | None) -> str:
    """The logger name, validated (None -> csv), with its package installed."""
    kind = (kind or "csv").strip().lower()
    if kind not in LOGGERS:
        raise VatrackError(f"logger must be one of {', '.join(LOGGERS)} (got '{kind}')")
    if kind in _NEEDS:
        modules, package = _NEEDS[kind]
        if not any(_installed(m) for m in modules):
            raise VatrackError(f"logger '{kind}' needs the '{package}' package, which is not installed: "
                               f"pip install {package} (or use the csv logger)")
    return kind


def make_logger(kind: str | None, run_dir, name: str = "vatrack"):
    """The extra Lightning logger of ``kind`` writing under ``run_dir``; None for csv."""
    kind = check_logger(kind)
    if kind == "csv":
        return None
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    if kind == "mlflow":
        from lightning.pytorch.loggers import MLFlowLogger

        uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{run_dir / 'mlflow.db'}"
        return MLFlowLogger(experiment_name=name, run_name=run_dir.name, tracking_uri=uri,
                            artifact_location=(run_dir / "mlruns").as_uri())
    if kind == "wandb":
        from lightning.pytorch.loggers import WandbLogger

        online = os.environ.get("WANDB_MODE") == "online" or bool(os.environ.get("WANDB_API_KEY"))
        return WandbLogger(project=name, name=run_dir.name, save_dir=str(run_dir), offline=not online)
    from lightning.pytorch.loggers import TensorBoardLogger

    return TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version="")
