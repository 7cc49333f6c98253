"""Annotation readers on small files built in exactly the real layouts (docs/method.md §7)."""
from __future__ import annotations

import openpyxl
import pandas as pd
import pytest

from mcwes.data import COLUMNS, read_annotations, write_annotations_csv


def _table(rows):
    t = pd.DataFrame(rows, columns=list(COLUMNS)).astype({"onset": "int64", "offset": "int64"})
    return t.sort_values(["video", "onset", "offset", "type"], kind="stable").reset_index(drop=True)


def _assert_table(got, rows):
    pd.testing.assert_frame_equal(got.reset_index(drop=True), _table(rows), check_dtype=False)
    assert got["onset"].dtype == "int64" and got["offset"].dtype == "int64"


# ---------------------------------------------------------------------------------------------- CAS(ME)^2

def _casme2(path, main_rows, *, main="CASFEcode_final", rule1=True, rule2=True, numeric_codes=False):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = main
    for r in main_rows:
        ws.append(r)
    if rule1:
        r1 = wb.create_sheet("naming rule1")
        for row in ([15, "s15", 1], [16, "s16", 2]):
            r1.append(row)
    if rule2:
        r2 = wb.create_sheet("naming rule2")
        for code, name in (("0101", "disgust1"), ("0401", "anger1"), ("0502", "happy1")):
            r2.append([int(code) if numeric_codes else code, name])
            r2.cell(r2.max_row, 1).number_format = "@"
    wb.save(path)
    return path


CASME2_ROWS = [
    [1, "disgust1_1", 10, 20, 40, "4+7", "negative", "macro-expression", "others"],   # row 1: fine
    [1, "disgust1_2", 100, 105, 112, 4, "negative", "micro-expression", "others"],   # row 2: ME
    [1, "anger1_1", 50, 60, 0, "4", "negative", "macro-expression", "others"],        # row 3: offset 0
    [2, "happy1_1", 30, 0, 70, "12", "positive", "macro-expression", "others"],       # row 4: apex 0
    [2, "happy1_2", 200, 230, 220, "12", "positive", "macro-expression", "others"],   # row 5: offset < apex
    [2, "happy1_3", 300, 310, 330, "12", "positive", "macro-expression", "others"],   # row 6: fine
]


def test_casme2_layout_codes_and_offset_repair(tmp_path):
    path = _casme2(tmp_path / "CAS(ME)^2code_final.xlsx", CASME2_ROWS)
    table, report = read_annotations(path)
    _assert_table(table, [
        ("s15_0101", "s15", 9, 39, "MaE"), ("s15_0101", "s15", 99, 111, "ME"),
        ("s15_0401", "s15", 49, 59 + 20, "MaE"),  # apex 60 (1-based) + round(2/3*30) = 80 → 79
        ("s16_0502", "s16", 29, 69, "MaE"), ("s16_0502", "s16", 199, 229 + 20, "MaE"),
        ("s16_0502", "s16", 299, 329, "MaE"),
    ])
    rows = {(e.row, e.action) for e in report.entries}
    assert {(3, "repaired"), (4, "noted"), (5, "repaired")} <= rows
    assert report.rows_read == 6 and report.rows_kept == 6
    assert "s15_0401" in str(report) and "CAS(ME)^2code_final.xlsx:3" in str(report)


def test_casme2_numeric_codes_and_other_main_sheet_name(tmp_path):
    path = _casme2(tmp_path / "code.xlsx", CASME2_ROWS[:1], main="CASMEcode_final", numeric_codes=True)
    table, _ = read_annotations(path, format="casme2")
    assert list(table["video"]) == ["s15_0101"]


@pytest.mark.parametrize("policy, row3, row5", [("apex", 59, 229), ("drop", None, None)])
def test_casme2_offset_policies(tmp_path, policy, row3, row5):
    path = _casme2(tmp_path / "CAS(ME)^2code_final.xlsx", CASME2_ROWS)
    table, report = read_annotations(path, offset_policy=policy)
    got = dict(zip(zip(table["video"], table["onset"]), table["offset"]))
    assert got.get(("s15_0401", 49)) == row3 and got.get(("s16_0502", 199)) == row5
    if policy == "drop":
        assert sorted(e.row for e in report.dropped) == [3, 5] and report.rows_kept == 4


def test_casme2_lgsnet_uses_fps(tmp_path):
    path = _casme2(tmp_path / "CAS(ME)^2code_final.xlsx", CASME2_ROWS[2:3])
    table, _ = read_annotations(path, fps=60)
    assert table["offset"].tolist() == [59 + 40]


def test_casme2_unknown_names_and_types_are_dropped_and_reported(tmp_path):
    rows = CASME2_ROWS[:1] + [
        [7, "disgust1_3", 10, 12, 14, "4", "negative", "micro-expression", "others"],   # unknown participant
        [1, "sad9_1", 10, 12, 14, "4", "negative", "micro-expression", "others"],       # unknown name
        [1, "disgust1_4", 10, 12, 14, "4", "negative", "blink", "others"],              # unknown type
    ]
    table, report = read_annotations(_casme2(tmp_path / "CAS(ME)^2code_final.xlsx", rows))
    assert len(table) == 1
    reasons = {e.row: e.reason for e in report.dropped}
    assert "naming rule1" in reasons[2] and "naming rule2" in reasons[3] and "blink" in reasons[4]


def test_casme2_missing_naming_sheet(tmp_path):
    path = _casme2(tmp_path / "CAS(ME)^2code_final.xlsx", CASME2_ROWS, rule2=False)
    with pytest.raises(ValueError, match=r"CAS\(ME\)\^2code_final\.xlsx has no 'naming rule2' sheet"):
        read_annotations(path)


def test_casme2_non_numeric_frame_names_file_and_row(tmp_path):
    rows = CASME2_ROWS[:2] + [[1, "anger1_1", "ten", 60, 70, "4", "negative", "macro-expression", "x"]]
    with pytest.raises(ValueError, match=r"code_final\.xlsx, sheet 'CASFEcode_final', row 3.*'Onset'.*'ten'"):
        read_annotations(_casme2(tmp_path / "CAS(ME)^2code_final.xlsx", rows))


# ---------------------------------------------------------------------------------------------- SAMM-LV

SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type",
               "Action Units", "Notes"]


def _samm(path, data, header=SAMM_HEADER, sheet="FACS_Movement_Only"):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(["SAMM Long Videos"])
    for _ in range(7):
        ws.append([None])
    ws.append(["Onset and Offset are frame numbers"])  # 9 description rows (0..8)
    ws.append(header)                                   # header: row 10 in Excel
    for r in data:
        ws.append(r)
    wb.save(path)
    return path


SAMM_ROWS = [
    [6, "006_1_1", 1, 1001.2, 1010.6, 1060.4, 60, "Micro - 1/2", "12", None],  # row 11: fractional
    [6, "006_1_2", 1, 0, 500, 3000, 3000, "Macro", "4", None],                 # row 12: onset 0
    [7, "007_3_1", 2, 200, -1, 330, 131, "Macro", "1+2", None],                # row 13: apex -1
    [37, "037_4_1", 5, 40, 60, 90, 51, "Micro - 1/2", "14", None],             # row 14
    [37, "037_4_1", 5, 400, 450, 600, 201, "Macro", "14", None],               # row 15: same filename
    [37, "037_4_2", 5, 400, 450, 600, 201, "Macro", "14", None],               # row 16: exact duplicate
    [7, "007_3_2", 2, 900, 950, 940, 41, "Macro", "1", None],                  # row 17: offset < apex
]


def test_samm_header_row_fractional_frames_and_quirks(tmp_path):
    table, report = read_annotations(_samm(tmp_path / "SAMM_LongVideos_V3_Release.xlsx", SAMM_ROWS))
    _assert_table(table, [
        ("006_1", "006", 1000, 1059, "ME"),  # 1001.2, 1060.4 rounded
        ("006_1", "006", 0, 2999, "MaE"),    # onset 0 clamped to frame 1
        ("007_3", "007", 199, 329, "MaE"),
        ("037_4", "037", 39, 89, "ME"), ("037_4", "037", 399, 599, "MaE"),
        ("007_3", "007", 899, 949 + 133, "MaE"),  # apex 950 + round(2/3*200)
    ])
    by_row = {}
    for e in report.entries:
        by_row.setdefault(e.row, []).append((e.action, e.reason))
    assert any(a == "repaired" and "fractional" in r for a, r in by_row[11])
    assert any(a == "repaired" and "onset 0" in r for a, r in by_row[12])
    assert any(a == "noted" and "apex -1" in r for a, r in by_row[13])
    assert any(a == "noted" and "037_4_1" in r for a, r in by_row[14])
    assert by_row[16] == [("dropped", "duplicate of row 15")]
    assert any(a == "repaired" and "apex" in r for a, r in by_row[17])


def test_samm_missing_column_names_file_and_header_row(tmp_path):
    header = [h if h != "Offset" else "Off" for h in SAMM_HEADER]
    with pytest.raises(ValueError, match=r"SAMM_LongVideos_V2_Release\.xlsx.*header row 10.*'offset'"):
        read_annotations(_samm(tmp_path / "SAMM_LongVideos_V2_Release.xlsx", SAMM_ROWS, header=header))


def test_samm_missing_sheet(tmp_path):
    with pytest.raises(ValueError, match="no 'FACS_Movement_Only' sheet"):
        read_annotations(_samm(tmp_path / "SAMM_LongVideos_V2_Release.xlsx", SAMM_ROWS, sheet="Sheet1"))


def test_samm_non_numeric_frame_names_row(tmp_path):
    rows = SAMM_ROWS[:1] + [[6, "006_1_2", 1, 100, "apex?", 300, 201, "Macro", "4", None]]
    with pytest.raises(ValueError, match=r"SAMM.*row 12: expected column 'Apex'.*'apex\?'"):
        read_annotations(_samm(tmp_path / "SAMM_LongVideos_V2_Release.xlsx", rows))


# ---------------------------------------------------------------------------------------------- CAS(ME)^3

def _casme3_xls(path, rows, sheet="AU+Emotion"):
    xlwt = pytest.importorskip("xlwt")
    wb = xlwt.Workbook()
    ws = wb.add_sheet(sheet)
    header = ["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Expression type", "Objective class"]
    for r, row in enumerate([header] + rows):
        for c, v in enumerate(row):
            ws.write(r, c, v)
    blink = wb.add_sheet("eye blink")
    blink.write(0, 0, "Subject")
    wb.save(str(path))
    return path


CASME3_ROWS = [
    ["spNO.1", "a", 10, 15, 40, "4", "Macro-expression", "disgust"],   # row 2
    ["spNO.1", "B", 5, 8, 12, "12", "Micro-expression", "happy"],      # row 3: uppercase letter
    ["spNO.12", "c", 0, 30, 90, "1+2", "Macro-expression", "surprise"],  # row 4: onset 0
]


def test_casme3_xls(tmp_path):
    table, report = read_annotations(_casme3_xls(tmp_path / "CAS(ME)3_part_A_v2.xls", CASME3_ROWS))
    _assert_table(table, [("spNO.1_a", "spNO.1", 9, 39, "MaE"), ("spNO.1_b", "spNO.1", 4, 11, "ME"),
                          ("spNO.12_c", "spNO.12", 0, 89, "MaE")])
    assert [(e.row, e.action) for e in report.entries] == [(4, "repaired")]


def test_casme3_missing_sheet(tmp_path):
    path = _casme3_xls(tmp_path / "CAS(ME)3_part_A_v2.xls", CASME3_ROWS, sheet="Sheet1")
    with pytest.raises(ValueError, match=r"CAS\(ME\)3_part_A_v2\.xls has no 'AU\+Emotion' sheet"):
        read_annotations(path)


def test_casme3_xlsx_too(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "AU+Emotion"
    ws.append(["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Expression type", "Objective class"])
    for r in CASME3_ROWS[:1]:
        ws.append(r)
    wb.save(tmp_path / "part_A.xlsx")
    table, _ = read_annotations(tmp_path / "part_A.xlsx")
    assert table.iloc[0].tolist() == ["spNO.1_a", "spNO.1", 9, 39, "MaE"]


# ---------------------------------------------------------------------------------------------- CSV

def test_csv_round_trip_and_line_numbers(tmp_path):
    (tmp_path / "gt.csv").write_text(
        "video,subject,onset,offset,type\n"
        "v1,s1,1,10,ME\n"
        "v1,s1,20,80,macro\n"
        "v2,s2,9,5,MaE\n")  # line 4: offset < onset
    table, report = read_annotations(tmp_path / "gt.csv")
    _assert_table(table, [("v1", "s1", 0, 9, "ME"), ("v1", "s1", 19, 79, "MaE")])
    assert [(e.row, e.action) for e in report.entries] == [(4, "dropped")]
    write_annotations_csv(table, tmp_path / "back.csv")
    again, rep2 = read_annotations(tmp_path / "back.csv")
    pd.testing.assert_frame_equal(again, table)
    assert not rep2.entries


def test_csv_missing_column_and_bad_frame(tmp_path):
    (tmp_path / "a.csv").write_text("video,subject,onset,type\nv,s,1,ME\n")
    with pytest.raises(ValueError, match=r"a\.csv, line 1: missing column\(s\) \['offset'\]"):
        read_annotations(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("video,subject,onset,offset,type\nv,s,1,2,ME\nv,s,x,2,ME\n")
    with pytest.raises(ValueError, match=r"b\.csv.*row 3.*'onset'"):
        read_annotations(tmp_path / "b.csv")


def test_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_annotations(tmp_path / "none.xlsx")
    (tmp_path / "x.csv").write_text("video,subject,onset,offset,type\n")
    with pytest.raises(ValueError, match="offset_policy"):
        read_annotations(tmp_path / "x.csv", offset_policy="guess")
    with pytest.raises(ValueError, match="format"):
        read_annotations(tmp_path / "x.csv", format="megc")
    wb = openpyxl.Workbook()
    wb.save(tmp_path / "mystery.xlsx")
    with pytest.raises(ValueError, match="cannot tell the format"):
        read_annotations(tmp_path / "mystery.xlsx")
