"""Scans: one pipeline over review sources (the layout is in README's "How it decides").

In core is one shard held in memory (:mod:`.run`), out of core many shards on disk
(:mod:`.outofcore`), incremental new partitions plus a stored history and model
(:mod:`.incremental`); the steps they share are in :mod:`.feature_step` (features of one
shard), :mod:`.scoring` and :mod:`.output`.
"""

from detector.scan.config import SHARD_ROWS, ScanConfig
from detector.scan.output import (
    OUTPUT_FILES,
    SCAN_OUTPUTS,
    ScanResult,
    keeps_foreign,
    write_all_rejected,
)
from detector.scan.run import ModeError, run_scan, stage_or_rejects, stage_scan
from detector.scan.scoring import (
    EXPLANATION_SCHEMA,
    SCORES_SCHEMA,
    GivenModel,
    ScoreResult,
    score_reviews,
)

__all__ = [
    "EXPLANATION_SCHEMA",
    "OUTPUT_FILES",
    "SCAN_OUTPUTS",
    "SCORES_SCHEMA",
    "SHARD_ROWS",
    "GivenModel",
    "ModeError",
    "ScanConfig",
    "ScanResult",
    "ScoreResult",
    "keeps_foreign",
    "run_scan",
    "score_reviews",
    "stage_or_rejects",
    "stage_scan",
    "write_all_rejected",
]
