"""report.md's account of an int8 search: where the error entered, each remedy and trial, what was kept."""

from __future__ import annotations

from typing import Any


def search_lines(fallback: dict | None) -> list[str]:
    """The accuracy-aware search of one artifact: diagnosis, remedies, trials."""
    if not fallback:
        return []
    verdict = "met the budgets" if fallback["met_budgets"] else "did NOT meet the budgets (best trial kept)"
    chosen = fallback["trials"][fallback["chosen_trial"]]
    fixed_by = " + ".join(chosen.get("remedies") or []) or "no remedy"
    kept_float = len(chosen["float_nodes"])
    lines = [f"- int8 search: {len(fallback['trials'])} trial(s), trial {fallback['chosen_trial']} kept "
             f"({fixed_by}, {kept_float} node(s) kept float), {verdict}"]
    for refused in fallback.get("refusals") or []:
        lines.append(f"  - trial {refused['trial']} refused by the runtime at {refused['op']} "
                     f"node `{refused['node']}`: "
                     f"{refused.get('why', refused.get('reason', ''))}; remedy `{refused.get('remedy')}`")
    lines += _diagnosis(fallback.get("diagnosis"))
    for remedy in fallback.get("remedies") or []:
        lines.append(f"  - remedy `{remedy['remedy']}` ({remedy['why']}): {remedy['outcome']}")
    for remedy in fallback.get("remedies_left_out") or []:
        lines.append(f"  - remedy `{remedy['remedy']}` not tried: {remedy['why']}")
    first = fallback.get("diagnosed_first") or []
    if first:
        shown = ", ".join(f"`{n}`" for n in first[:4]) + (" …" if len(first) > 4 else "")
        lines.append(f"  - float fallback: first the {len(first)} node(s) reading the worst-quantized activations "
                     f"({shown}), then by sensitivity")
    for name in fallback.get("complemented") or []:
        lines.append(f"  - every ranked node float still missed: the error lies outside them too, so the fallback "
                     f"ran again on top of `{name}`")
    lines += ["", "  | trial | remedies | nodes kept float | accuracy | agreement | worst output | p50 ms (fp32) | "
              "passed |", "  |---|---|---|---|---|---|---|---|"]
    for i, t in enumerate(fallback["trials"]):
        nodes = ", ".join(f"`{n}`" for n in t["float_nodes"][:6]) + (" …" if len(t["float_nodes"]) > 6 else "")
        reference = f" ({t['reference_p50_ms']:.2f})" if t.get("reference_p50_ms") else ""
        lines.append(f"  | {i} | {' + '.join(t.get('remedies') or []) or 'plain'} | {len(t['float_nodes'])}: "
                     f"{nodes or '–'} | {_num(t['accuracy'])} | {_num(t['agreement'])} | "
                     f"{_trial_quality(t.get('fidelity') or {}, t.get('refused'))} | {t['p50_ms']:.2f}{reference} | "
                     f"{'yes' if t['passed'] else 'no'} |")
    return [*lines, ""]


def _diagnosis(diagnosis: dict[str, Any] | None) -> list[str]:
    """The tensors whose own quantizer lost the most, on the plain trial."""
    if diagnosis and diagnosis.get("error"):
        return [f"  - where the int8 error enters: not measured ({diagnosis['error']})"]
    if not diagnosis or not diagnosis.get("activations"):
        return []
    lines = [f"  - where the int8 error enters (plain trial, {diagnosis['examples']} calibration examples; SQNR of "
             "each activation's own quantize/dequantize, median channel / whole tensor):"]
    for a in diagnosis["activations"][:5]:
        outliers = (f", outlier channels {a['outlier_channels']} ({a['channel_ratio']:.0f}x the median)"
                    if a.get("outlier_channels") else "")
        lines.append(f"    - `{a['name']}` ({a['kind']}): {a['channel_sqnr_db']:.1f} / {a['local_sqnr_db']:.1f} dB, "
                     f"range [{a['min']:.3g}, {a['max']:.3g}]{outliers}")
    weights = diagnosis.get("weights") or []
    if weights:
        lines.append("    - worst weights: " + ", ".join(f"`{w['name']}` {w['sqnr_db']:.1f} dB" for w in weights[:3]))
    return lines


def _trial_quality(f: dict, refused: dict | None = None) -> str:
    """A trial's worst output (cosine, SNR) and, for a detector, its mAP against the fp32 boxes."""
    if refused:
        return f"refused at {refused.get('op')} `{refused.get('node')}`"
    parts = [f"`{f['output']}` cos {f['cosine']:.4f}, {_db(f['snr_db'])}"] if "output" in f else []
    if "map50_95_vs_reference" in f:
        parts.append(f"mAP {f['map50_95_vs_reference']:.3f}")
    if "miou_vs_reference" in f:
        parts.append(f"mIoU {f['miou_vs_reference']:.3f}")
    return "; ".join(parts) or "–"


def _num(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value:.4f}"


def _db(value: float | None) -> str:
    return "SNR exact" if value is None or value == float("inf") else f"SNR {value:.1f} dB"
