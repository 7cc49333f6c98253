"""Data: feature readers, annotation readers, the spotting dataset and a synthetic benchmark
(docs/method.md §7). The energy-threshold baseline lives with the spotting methods
(:mod:`mcwes.spotting`) and is re-exported here."""
from .annotations import COLUMNS, AnnotationReport, ReportEntry, read_annotations, write_annotations_csv
from .dataset import (DATASET_INFO, Batch, DatasetInfo, LosoFold, SpottingDataset, VideoItem, collate,
                      load_dataset)
from .features import FeatureStore, MissingVideoError, open_features
from . import synthetic
from ..spotting.energy import energy_baseline, energy_proposals, energy_scores

__all__ = [
    "COLUMNS", "DATASET_INFO", "AnnotationReport", "Batch", "DatasetInfo", "FeatureStore", "LosoFold",
    "MissingVideoError", "ReportEntry", "SpottingDataset", "VideoItem", "collate", "energy_baseline",
    "energy_proposals", "energy_scores", "load_dataset", "open_features", "read_annotations", "synthetic",
    "write_annotations_csv",
]
