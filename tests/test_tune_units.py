"""yolov4.tune without training: the gene table, the GA rule against hand-derived values, the
paired t interval computed by hand, atomic records under SIGKILL, plan and fitness errors."""
from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from yolov4.errors import YoloError
from yolov4.tune import ga
from yolov4.tune.genes import Gene, gene_table, parse_gene_table
from yolov4.tune.plan import baseline_name, load_plan
from yolov4.tune.records import append_record, read_records
from yolov4.tune.stats import mean_std, paired_ci, t_quantile
from yolov4.tune.table import build_table, to_markdown
from yolov4.tune.trial import DEFAULT_FITNESS, fitness_of, parse_fitness

GENES = {"a": Gene("a", 0.1, 1.0, 1.0), "b": Gene("b", 0.0, 10.0, 0.0),
         "c": Gene("c", 0.0, 1.0, 0.5, "switch"), "d": Gene("d", 0.0, 100.0, 1.0, "int"),
         "z": Gene("z", 0.0, 0.2, 1.0)}


def test_packaged_gene_table_declares_hyp_keys_within_bounds():
    from yolov4.engine.config import default_hyp
    table = gene_table()
    assert {"learning_rate", "momentum", "mosaic", "ignore_thresh", "label_smooth_eps"} <= set(table)
    assert set(table) <= set(default_hyp())
    assert table["mosaic"].kind == "switch" and table["burn_in"].kind == "int"
    assert all(g.low < g.high and g.gain >= 0 for g in table.values())
    assert list(gene_table(["hue", "learning_rate"])) == ["hue", "learning_rate"]
    with pytest.raises(YoloError, match="unknown gene 'learning_rat' \\(did you mean learning_rate"):
        gene_table(["learning_rat"])


def test_gene_declarations_parse_and_bad_ones_name_the_line():
    text = "x: 1   # the x\n      #   evolve: [0, 2, 0.5]\ny: null\n  #  evolve: [1, 5, 1, int]\n"
    t = parse_gene_table(text)
    assert t == {"x": Gene("x", 0.0, 2.0, 0.5), "y": Gene("y", 1.0, 5.0, 1.0, "int")}
    with pytest.raises(YoloError, match=r"h.yaml:2: .*need min < max"):
        parse_gene_table("x: 1\n# evolve: [2, 1, 1]\n", "h.yaml")
    with pytest.raises(YoloError, match=r"h.yaml:2: evolve for 'x' must be"):
        parse_gene_table("x: 1\n# evolve: [2, 1]\n", "h.yaml")


def test_mutation_matches_the_rule_by_hand():
    """Replay the documented draws with the same generator: factor, zero rule, switch, int."""
    parent = {"a": 0.5, "b": 3.0, "c": 0.0, "d": 40.0, "z": 0.0}
    child = ga.mutate(parent, GENES, ga.trial_rng(7, 3))
    rng = ga.trial_rng(7, 3)
    gain = np.array([1.0, 0.0, 0.5, 1.0, 1.0])
    while True:
        picked = rng.random(5) < 0.8
        f = (gain * picked * rng.standard_normal(5) * rng.random() * 0.2 + 1).clip(0.3, 3.0)
        flips = rng.random(5)
        want = {"a": min(max(0.5 * f[0], 0.1), 1.0), "b": 3.0,
                "c": 1.0 if picked[2] and flips[2] < 0.5 else 0.0,
                "d": float(round(min(max(40 * f[3], 0), 100))),
                "z": min(max((f[4] - 1) * 0.2, 0.0), 0.2)}
        if any(want[k] != parent[k] for k in parent):
            break
    for k in parent:
        assert child[k] == pytest.approx(want[k], rel=1e-5), k


def test_mutation_respects_bounds_and_zero_gain_genes():
    parent = {"a": 0.95, "b": 3.3, "c": 1.0, "d": 99.0, "z": 0.19}
    rng = np.random.default_rng(0)
    for _ in range(300):
        child = ga.mutate(parent, GENES, rng)
        assert child["b"] == 3.3                        # gain 0: never touched
        assert 0.1 <= child["a"] <= 1.0 and 0.0 <= child["z"] <= 0.2
        assert child["c"] in (0.0, 1.0) and child["d"] == int(child["d"]) <= 100
        assert child != parent                          # always at least one change
    fixed = {"b": GENES["b"]}
    assert ga.mutate({"b": 3.3}, fixed, rng) == {"b": 3.3}   # nothing mutable: unchanged


def test_selection_and_proposals_reproducible_from_the_seed():
    records = [{"trial": i, "fitness": f, **{k: v for k, v in zip(GENES, p)}}
               for i, (f, p) in enumerate([(0.1, (0.5, 3, 0, 40, 0)), (0.4, (0.6, 3, 1, 50, .1)),
                                          (0.0, (0.2, 3, 0, 10, 0)), (0.3, (0.9, 3, 1, 70, .2))])]
    base = {"a": 0.5, "b": 3.0, "c": 0.0, "d": 40.0, "z": 0.0}
    one = [ga.propose(i, records, base, GENES, seed=5) for i in range(1, 6)]
    two = [ga.propose(i, records, base, GENES, seed=5) for i in range(1, 6)]
    assert one == two
    assert one != [ga.propose(i, records, base, GENES, seed=6) for i in range(1, 6)]
    assert ga.propose(0, records, base, GENES, seed=5) == (base, "base")
    # selection weights w = f - min + 1e-6 over the top 5: trial 2 (fitness 0, the minimum)
    # has weight 1e-6, so it is essentially never drawn; trial 1 most often
    rng = np.random.default_rng(1)
    picks = [ga.select_parent(records, GENES, rng)[1] for _ in range(4000)]
    share = {t: picks.count(t) / 4000 for t in range(4)}
    assert share[2] < 0.001
    assert share[1] == pytest.approx(0.4 / 0.8, abs=0.03)
    assert share[3] == pytest.approx(0.3 / 0.8, abs=0.03)
    blend, which = ga.select_parent(records, GENES, rng, rule="weighted")
    assert which is None and blend["a"] == pytest.approx((0.05 + 0.24 + 0.27) / 0.8, rel=1e-4)


def test_t_quantile_and_paired_ci_by_hand():
    for df, t in [(1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764), (10, 2.2281),
                  (30, 2.0423)]:
        assert t_quantile(0.975, df) == pytest.approx(t, abs=1e-4)
    assert t_quantile(0.025, 4) == pytest.approx(-2.7764, abs=1e-4)
    # seeds: row (40, 42, 41), baseline (38, 41, 38): d = (2, 1, 3), mean 2, sd 1,
    # half width t(.975, 2) * 1 / sqrt(3) = 4.3027 / 1.7321 = 2.4841
    d, lo, hi = paired_ci([40, 42, 41], [38, 41, 38])
    assert (d, lo, hi) == pytest.approx((2.0, 2.0 - 2.48414, 2.0 + 2.48414), abs=1e-4)
    assert mean_std([1.0, 3.0]) == (2.0, math.sqrt(2.0))
    assert paired_ci([1.0], [0.5])[1:] == (None, None)


def test_table_rows_deltas_and_markdown():
    recs = [{"row": r, "seed": s, "status": st, "coco.AP50": a50, "coco.AP": a}
            for r, s, st, a50, a in [("base", 0, "ok", .5, .30), ("base", 1, "ok", .6, .32),
                                     ("m", 0, "ok", .55, .33), ("m", 1, "ok", .7, .35),
                                     ("x", 0, "failed", 0, 0), ("x", 1, "ok", .4, .2)]]
    table = build_table(recs, ["base", "m", "x"], "base", {"base": (38.0, 60.0), "m": (39.1, None)})
    m = table[1]
    assert m["AP_mean"] == pytest.approx(34.0) and m["dAP"] == pytest.approx(3.0)
    # d = (3, 3): sd 0 so the interval is the point
    assert (m["dAP_lo"], m["dAP_hi"]) == pytest.approx((3.0, 3.0))
    assert m["dAP50"] == pytest.approx(7.5)
    assert m["paper_dAP"] == pytest.approx(1.1) and m["same_direction"] == "yes"
    assert table[2]["n"] == 1 and table[2]["trials"] == 2 and table[2]["dAP_lo"] is None
    md = to_markdown(table, "base", 2, paper=True)
    assert "| m | 2/2 | 62.50 ± 10.61 | 34.00 ± 1.41 | +7.50 [" in md


def test_fitness_weights():
    assert parse_fitness(None) == DEFAULT_FITNESS == {"coco.AP50": 0.1, "coco.AP": 0.9}
    assert parse_fitness("mAP50=1") == {"darknet.mAP50": 1.0}
    assert fitness_of({"coco.AP50": 0.5, "coco.AP": 0.3}, DEFAULT_FITNESS) == pytest.approx(0.32)
    assert math.isnan(fitness_of({"coco.AP50": float("nan"), "coco.AP": 0.3}, DEFAULT_FITNESS))
    with pytest.raises(YoloError, match="unknown metric 'APx'"):
        parse_fitness("APx=1")


def test_plan_errors_name_the_file_and_key(tmp_path):
    bad = tmp_path / "plan.yaml"
    bad.write_text("baseline: {}\nno-mosaic: {mosaik: 0}\n")
    with pytest.raises(YoloError, match=r"plan.yaml: row 'no-mosaic': unknown key 'mosaik' "
                                        r"\(did you mean mosaic"):
        load_plan(str(bad), "yolov4-tiny")
    bad.write_text("baseline: [1, 2]\n")
    with pytest.raises(YoloError, match="plan.yaml: row 'baseline': expected a mapping"):
        load_plan(str(bad), "yolov4-tiny")
    good = tmp_path / "good.yaml"
    good.write_text("first: {}\nsam: {sam: true, mosaic: 1}\n")
    rows, facts, _ = load_plan(str(good), "yolov4-tiny")
    assert rows[1].model_kwargs == {"sam": True} and rows[1].overrides == {"mosaic": 1}
    assert baseline_name(rows) == "first" and facts == {}


def test_paper_plan_rows():
    rows, facts, _ = load_plan("paper", "yolov4-tiny", ga_hyp=__file__)
    names = [r.name for r in rows]
    assert names[0] == "baseline" and "S M IT GA OA CIoU SAM" in names and len(names) == 14
    assert facts["baseline"] == (38.0, 60.0) and facts["S CIoU"] == (39.6, None)
    row = rows[names.index("S M IT GA OA CIoU")]
    assert row.fit_anchors and row.hyp == __file__
    assert row.overrides["iou_loss"] == "ciou" and row.overrides["mosaic"] == 1
    no_ga, facts2, _ = load_plan("paper", "yolov4-tiny")
    assert "GA" not in [r.name for r in no_ga] and "S M IT CIoU" in [r.name for r in no_ga]
    assert "S M IT CIoU" not in facts2


WRITER = textwrap.dedent("""
    import sys
    from yolov4.tune.records import append_record
    path = sys.argv[1]
    i = 0
    while True:
        append_record(path, {"trial": i, "status": "ok", "fitness": i / 7, "note": "x" * 2000})
        i += 1
""")


def test_records_never_half_written_when_killed(tmp_path):
    path = tmp_path / "evolve.csv"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"))
    seen = 0
    for k in range(6):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=env)
        time.sleep(0.6 + 0.07 * k)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        rows = read_records(path)
        assert all(r["note"] == "x" * 2000 and r["status"] == "ok" for r in rows)
        assert [r["trial"] for r in rows[seen:]] == list(range(rows[seen]["trial"] if rows[seen:]
                                                                else 0, rows[-1]["trial"] + 1)) \
            if rows[seen:] else True
        assert len(rows) >= seen
        seen = len(rows)
    assert seen > 0
    rows = append_record(path, {"trial": -1, "extra": 1})       # a new column widens the table
    assert rows[-1]["extra"] == 1 and read_records(path)[0]["extra"] is None
