"""Scans: one pipeline over review sources.

resolve inputs -> load and validate -> features (per shard of whole shops) ->
fit (or a given model) -> score -> propagate -> threshold -> reasons -> cases
-> publish. In core is one shard held in memory (:mod:`detector.scan.run`), out
of core many shards on disk (:mod:`detector.scan.outofcore`), incremental new
partitions plus a stored history and model (:mod:`detector.scan.incremental`).

=================  ===================================================================
``config``         :class:`ScanConfig`, round-tripping through ``summary.json``
``scoring``        model, prior, propagation, threshold, explanations, scores table
``output``         output files, ``summary.json``, :class:`ScanResult`
``history``        an incremental scan's history and given model
``run``            :func:`run_scan`: mode, in-core pipeline, publication
``outofcore``      staging file by file, shards of whole shops
``incremental``    :func:`run_incremental`: state directory, new partitions
=================  ===================================================================
"""

from detector.scan.config import SHARD_ROWS, ScanConfig
from detector.scan.output import (
    OUTPUT_FILES,
    SCAN_OUTPUTS,
    ScanResult,
    keeps_foreign,
    write_all_rejected,
)
from detector.scan.run import ModeError, run_scan, stage_scan
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
    "stage_scan",
    "write_all_rejected",
]
