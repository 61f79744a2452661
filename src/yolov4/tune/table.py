"""The ablation table: per row, mean +- std over seeds of AP50 and AP (in percent, as the
paper), and the difference to the baseline row with a paired 95 % Student-t interval over the
seeds both rows finished; next to it the paper's numbers when the plan is ``paper``."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .stats import mean_std, paired_ci

#: Table metric -> the recorded metric (COCO AP50 and AP@[.5:.95]).
METRICS = {"AP50": "coco.AP50", "AP": "coco.AP"}


def build_table(records: Sequence[Mapping[str, Any]], rows: Sequence[str], baseline: str,
                facts: Optional[Mapping[str, Tuple[float, Optional[float]]]] = None,
                level: float = 0.95) -> List[Dict[str, Any]]:
    """One dict per row (plan order): ``n``, ``trials``, ``<m>_mean``, ``<m>_std``,
    ``d<m>``, ``d<m>_lo``, ``d<m>_hi`` for m in AP50/AP, and ``paper_AP``, ``paper_dAP``."""
    facts = dict(facts or {})
    by_row: Dict[str, Dict[int, Mapping[str, Any]]] = {r: {} for r in rows}
    for rec in records:
        if rec.get("row") in by_row:
            by_row[rec["row"]][int(rec["seed"])] = rec
    base_ok = {s: r for s, r in by_row.get(baseline, {}).items() if r.get("status") == "ok"}
    paper_base = facts.get(baseline, (None, None))[0]
    table = []
    for name in rows:
        ok = {s: r for s, r in by_row[name].items() if r.get("status") == "ok"}
        out: Dict[str, Any] = {"row": name, "n": len(ok), "trials": len(by_row[name])}
        for m, key in METRICS.items():
            vals = [100.0 * float(ok[s][key]) for s in sorted(ok)]
            out[f"{m}_mean"], out[f"{m}_std"] = mean_std(vals)
            seeds = sorted(set(ok) & set(base_ok))
            if name == baseline or not seeds:
                out[f"d{m}"] = out[f"d{m}_lo"] = out[f"d{m}_hi"] = None
                continue
            d, lo, hi = paired_ci([100.0 * float(ok[s][key]) for s in seeds],
                                  [100.0 * float(base_ok[s][key]) for s in seeds], level)
            out[f"d{m}"], out[f"d{m}_lo"], out[f"d{m}_hi"] = d, lo, hi
        ap = facts.get(name, (None, None))[0]
        out["paper_AP"] = ap
        out["paper_dAP"] = (None if ap is None or paper_base is None or name == baseline
                            else round(ap - paper_base, 3))
        if out["paper_dAP"] is not None and out["dAP"] is not None:
            ours, theirs = out["dAP"], out["paper_dAP"]
            out["same_direction"] = ("tie" if ours == 0 or theirs == 0
                                     else "yes" if (ours > 0) == (theirs > 0) else "no")
        else:
            out["same_direction"] = None
        table.append(out)
    return table


def _f(v: Any, fmt: str = "{:.2f}") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return fmt.format(v)


def _pm(mean: Any, std: Any) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    return f"{mean:.2f} ± {_f(std)}"


def _delta(d: Any, lo: Any, hi: Any) -> str:
    if d is None:
        return "—"
    return f"{d:+.2f} [{_f(lo, '{:+.2f}')}, {_f(hi, '{:+.2f}')}]"


def to_markdown(table: Sequence[Mapping[str, Any]], baseline: str, seeds: int,
                paper: bool = False) -> str:
    """The table as Markdown (AP in percent; Δ with its paired 95 % interval)."""
    head = ["row", "n", "AP50", "AP", f"ΔAP50 vs {baseline} [95% CI]",
            f"ΔAP vs {baseline} [95% CI]"]
    if paper:
        head += ["paper AP", "paper ΔAP", "same direction"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in table:
        cells = [str(r["row"]), f"{r['n']}/{r['trials']}", _pm(r["AP50_mean"], r["AP50_std"]),
                 _pm(r["AP_mean"], r["AP_std"]), _delta(r["dAP50"], r["dAP50_lo"], r["dAP50_hi"]),
                 _delta(r["dAP"], r["dAP_lo"], r["dAP_hi"])]
        if paper:
            cells += [_f(r.get("paper_AP"), "{:.1f}"), _f(r.get("paper_dAP"), "{:+.1f}"),
                      r.get("same_direction") or "—"]
        lines.append("| " + " | ".join(cells) + " |")
    note = (f"\nmean ± sample std over {seeds} seed(s) (n = finished/run trials); Δ: mean of the "
            f"per-seed differences to '{baseline}' with a paired Student-t 95 % interval.\n")
    return "\n".join(lines) + "\n" + note


__all__ = ["build_table", "to_markdown", "METRICS"]
