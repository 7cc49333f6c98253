"""The facts of the three public spotting datasets, in one place (docs/method.md §7, §8): frame rate,
frames per feature snippet, the annotation spreadsheet as released and the names of its sheets.

The annotation readers (:mod:`.annotations`), the synthetic writers (:mod:`.synthetic`), the dataset
(:mod:`.dataset`) and the presets (:mod:`mcwes.config`) all take them from here. The per-subject
expression counts the synthetic benchmark copies live with it (:data:`mcwes.data.synthetic.PRESETS`).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DatasetFacts", "DATASETS", "CASME2_MAIN_SHEETS", "CASME2_NAMING_SHEETS", "SAMM_SHEET", "CASME3_SHEET"]

#: CAS(ME)^2's main sheet: CASFEcode_final in the release, CASMEcode_final in some copies.
CASME2_MAIN_SHEETS = ("CASFEcode_final", "CASMEcode_final")
#: CAS(ME)^2's naming-rule sheets: participant → subject folder (rule 1), video code → name (rule 2).
CASME2_NAMING_SHEETS = ("naming rule1", "naming rule2")
#: SAMM-LV's annotation sheet.
SAMM_SHEET = "FACS_Movement_Only"
#: CAS(ME)^3 part A's annotation sheet.
CASME3_SHEET = "AU+Emotion"


@dataclass(frozen=True)
class DatasetFacts:
    """One dataset: ``fps`` of its videos, ``snippet_frames`` g of its features (the paper's choice,
    Table 4), its annotation ``file`` as released and the ``sheets`` the readers use."""

    name: str
    fps: float
    snippet_frames: int
    annotation_file: str
    sheets: tuple[str, ...]


DATASETS: dict[str, DatasetFacts] = {
    "casme2": DatasetFacts("casme2", 30.0, 8, "CAS(ME)^2code_final.xlsx",
                           (CASME2_MAIN_SHEETS[0], *CASME2_NAMING_SHEETS)),
    "samm_lv": DatasetFacts("samm_lv", 200.0, 32, "SAMM_LongVideos_V3_Release.xlsx", (SAMM_SHEET,)),
    "casme3": DatasetFacts("casme3", 30.0, 8, "CAS(ME)3_part_A_v2.xlsx", (CASME3_SHEET,)),
}
