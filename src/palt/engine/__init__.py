"""Training and evaluation engine on Lightning Fabric: ``fit(config) -> RunResult``."""

from palt.engine.config import Config, ConfigError, load_config
from palt.engine.trainer import RunResult, TrainingDiverged, fit

__all__ = ["Config", "ConfigError", "RunResult", "TrainingDiverged", "fit", "load_config"]
