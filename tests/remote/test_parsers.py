"""The Jetson parsers on real output of the tools (tests/remote/samples.py says where each came from)."""

from __future__ import annotations

import pytest

from edgeconv.remote.jetson import parse_nv_tegra_release, parse_nvpmodel
from edgeconv.remote.tegrastats import parse_line, summarize
from tests.remote import samples


def test_nv_tegra_release_gives_the_l4t_version_and_board() -> None:
    facts = parse_nv_tegra_release(samples.NV_TEGRA_RELEASE_R35_4_1)
    assert facts is not None
    assert facts["l4t"] == "35.4.1" and facts["l4t_major"] == 35 and facts["release"] == "release"
    assert facts["board"] == "t186ref" and facts["eabi"] == "aarch64" and facts["gcid"] == "33958178"
    assert facts["date"].startswith("Tue Aug  1")
    assert parse_nv_tegra_release(samples.NV_TEGRA_RELEASE_R35_1_0)["l4t"] == "35.1.0"


def test_a_machine_without_the_release_file_is_not_a_jetson() -> None:
    assert parse_nv_tegra_release("") is None
    assert parse_nv_tegra_release('NAME="Debian GNU/Linux"\n') is None


@pytest.mark.parametrize(("text", "name", "mode_id"), [
    (samples.NVPMODEL_ORIN_NANO, "25W", 1), (samples.NVPMODEL_MAXN, "MAXN", 0), (samples.NVPMODEL_VERBOSE, "25W", 1),
])
def test_nvpmodel_mode_name_and_id(text: str, name: str, mode_id: int) -> None:
    assert parse_nvpmodel(text) == {"name": name, "id": mode_id}


def test_nvpmodel_without_a_mode_line() -> None:
    assert parse_nvpmodel("sh: 1: nvpmodel: not found\n") is None


def test_tegrastats_doc_fields_parse_one_by_one() -> None:
    fields = samples.TEGRASTATS_DOC_FIELDS
    assert parse_line(fields["ram"]) == {"ram_used_mb": 220, "ram_total_mb": 38955}
    cpu = parse_line(fields["cpu"])
    assert cpu == {"cpu_load": [1.0, 5.0, 0.0, 0.0], "cpu_mhz": [102, 102, 102, 102]}
    swap = parse_line(fields["ram"] + " " + fields["swap"] + " " + fields["iram"])
    assert swap["swap_used_mb"] == 0 and swap["swap_total_mb"] == 1978 and "rails" not in swap


def test_orin_nano_line() -> None:
    s = parse_line(samples.TEGRASTATS_ORIN_NANO[0])
    assert s["time"] == "07-29-2026 18:00:27"
    assert (s["ram_used_mb"], s["ram_total_mb"], s["swap_used_mb"]) == (2272, 7620, 221)
    assert s["cpu_mhz"] == [729, 1036, 1036, 1036, 729, 729] and s["gpu_load"] == 0.0 and "gpu_mhz" not in s
    assert s["temps_c"]["tj"] == 56.656 and s["temps_c"]["cpu"] == 54.937 and len(s["temps_c"]) == 6
    assert s["rails"] == {"VDD_IN": {"now_mw": 4673, "avg_mw": 4673}, "VDD_CPU_GPU_CV": {"now_mw": 527, "avg_mw": 527},
                          "VDD_SOC": {"now_mw": 1339, "avg_mw": 1339}}


def test_older_boards_offline_cores_engine_clocks_and_unitless_rails() -> None:
    tx2 = parse_line(samples.TEGRASTATS_TX2)
    assert tx2["cpu_load"] == [2.0, None, None, None, None, None] and tx2["cpu_mhz"][1] is None
    assert (tx2["emc_load"], tx2["emc_mhz"], tx2["gpu_mhz"]) == (13.0, 40, 114)
    assert tx2["rails"]["VDD_GPU"] == {"now_mw": 400, "avg_mw": 735} and len(tx2["rails"]) == 6
    nano = parse_line(samples.TEGRASTATS_NANO)
    assert nano["rails"]["POM_5V_IN"]["now_mw"] == 943 and nano["temps_c"]["thermal"] == 41.0
    tx1 = parse_line(samples.TEGRASTATS_TX1)
    assert "IRAM" not in tx1.get("rails", {}) and tx1["rails"]["VDD_IN"]["avg_mw"] == 2698
    xavier = parse_line(samples.TEGRASTATS_AGX_XAVIER)
    assert xavier["rails"]["SYS5V"]["now_mw"] == 1889 and xavier["temps_c"]["GPU"] == 32.0
    assert "swap_used_mb" not in xavier and len(xavier["cpu_load"]) == 8


def test_non_tegrastats_lines_are_ignored() -> None:
    assert parse_line("") is None
    assert parse_line("tegrastats: command not found") is None


def test_summary_of_a_run_and_throttling_by_temperature() -> None:
    samples_ = [parse_line(line) for line in samples.TEGRASTATS_ORIN_NANO]
    cool = summarize(samples_, throttle_temp_c=85.0)
    assert cool["samples"] == 3 and cool["throttled"] is False and cool["throttle_reasons"] == []
    assert cool["temps_c"]["tj"]["max"] == 56.656 and cool["power_mw"]["VDD_IN"]["max"] == 5263
    assert cool["cpu_mhz"] == {"min": 729, "max": 1036} and cool["ram_used_mb_max"] == 2639
    hot = summarize(samples_, throttle_temp_c=56.0)
    assert hot["throttled"] is True
    assert any(r.startswith("tj reached 56.7 C") for r in hot["throttle_reasons"])


def test_pmic_fixed_100c_is_not_a_throttle_signal() -> None:
    summary = summarize([parse_line(samples.TEGRASTATS_NANO)], throttle_temp_c=85.0)
    assert summary["temps_c"]["PMIC"]["max"] == 100.0 and summary["throttled"] is False


def test_a_busy_core_at_a_sagging_clock_is_flagged() -> None:
    busy = parse_line(samples.TEGRASTATS_TX1)
    busy["cpu_load"], busy["cpu_mhz"] = [100.0, 100.0], [1190, 600]
    summary = summarize([busy], throttle_temp_c=200.0)
    assert summary["throttled"] and "600 MHz" in summary["throttle_reasons"][0]


def test_no_samples() -> None:
    assert summarize([]) == {"samples": 0, "throttled": False, "throttle_reasons": []}
