"""Real output of the Jetson tools, for the parser tests. Copied verbatim; nothing here is invented.

Origins:
- TEGRASTATS_DOC_FIELDS: the "Example of statistic" column of NVIDIA's tegrastats appendix, L4T 32.5
  (https://docs.nvidia.com/jetson/archives/l4t-archived/l4t-325/Tegra%20Linux%20Driver%20Package%20Development%20Guide/AppendixTegraStats.html).
- TEGRASTATS_NANO / _TX1 / _TX2 / _AGX_XAVIER: lines captured on those boards, as kept in the test of
  Datadog's Jetson check (github.com/DataDog/datadog-agent, pkg/collector/corechecks/nvidia/jetson, Apache-2.0).
- TEGRASTATS_ORIN_NANO: two consecutive lines from a Jetson Orin Nano (JetPack 6), quoted in a public
  GitHub setup guide ("Monitor memory without changing JetPack"), and one more Orin Nano line from a
  public Go tegrastats parser (its `NanoExample`).
- NV_TEGRA_RELEASE_R35_4_1: `cat /etc/nv_tegra_release` on a Jetson AGX Orin, JetPack 5.1.2 (public GitHub notes
  that also show `apt-cache show nvidia-jetpack` -> 5.1.2-b104 on the same board).
- NV_TEGRA_RELEASE_R35_1_0: the expected output of `cat /etc/nv_tegra_release` on JetPack 5.0.2 in a public
  GitHub verification guide (its leading "# " restored, as the file has it).
- NVPMODEL_*: `nvpmodel -q` on a reComputer Orin Nano (JetPack 6.2.1), `nvpmodel -q` on an Orin in MAXN
  (a public run manifest), and `sudo nvpmodel -q --verbose` on an Orin Nano (a public probe log).
"""

TEGRASTATS_DOC_FIELDS = {
    "ram": "RAM 220/38955MB (lfb 847x4MB)",
    "swap": "SWAP 0/1978MB (cached 0MB)",
    "iram": "IRAM 0/252kB(lfb 252kB)",
    "cpu": "CPU [1%@102,5%@102,0%@102,0%@102]",
}

TEGRASTATS_NANO = (
    "RAM 613/3964MB (lfb 634x4MB) SWAP 0/1982MB (cached 0MB) CPU [2%@102,1%@102,0%@102,0%@102] EMC_FREQ 0% "
    "GR3D_FREQ 0% PLL@39C CPU@40.5C PMIC@100C GPU@41C AO@46C thermal@41C POM_5V_IN 943/943 POM_5V_GPU 0/0 "
    "POM_5V_CPU 123/123"
)
TEGRASTATS_TX1 = (
    "RAM 1179/3983MB (lfb 120x4MB) IRAM 0/252kB(lfb 252kB) CPU [1%@102,4%@102,0%@102,0%@102] EMC_FREQ 7%@408 "
    "GR3D_FREQ 0%@76 APE 25 AO@42.5C CPU@37.5C GPU@39C PLL@37C Tdiode@42.75C PMIC@100C Tboard@42C thermal@38.5C "
    "VDD_IN 2532/2698 VDD_CPU 76/178 VDD_GPU 19/19"
)
TEGRASTATS_TX2 = (
    "RAM 1345/7829MB (lfb 1290x4MB) SWAP 0/512MB (cached 0MB) CPU [2%@345,off,off,off,off,off] EMC_FREQ 13%@40 "
    "GR3D_FREQ 0%@114 APE 150 BCPU@35C MCPU@35C GPU@41C PLL@35C AO@35.5C Tboard@35C Tdiode@36C PMIC@100C "
    "thermal@35.5C VDD_IN 2003/2658 VDD_CPU 320/518 VDD_GPU 400/735 VDD_SOC 400/415 VDD_WIFI 0/0 VDD_DDR 240/348"
)
TEGRASTATS_AGX_XAVIER = (
    "RAM 1903/15692MB (lfb 3251x4MB) CPU [1%@1190,1%@1190,2%@1190,0%@1190,0%@1190,0%@1190,0%@1190,0%@1190] "
    "EMC_FREQ 0% GR3D_FREQ 0% AO@32.5C GPU@32C Tboard@32C Tdiode@34.75C AUX@31.5C CPU@33.5C thermal@32.9C "
    "PMIC@100C GPU 0/0 CPU 216/216 SOC 864/864 CV 0/0 VDDRQ 144/144 SYS5V 1889/1889"
)
TEGRASTATS_ORIN_NANO = [
    "07-29-2026 18:00:27 RAM 2272/7620MB (lfb 4x4MB) SWAP 221/3810MB (cached 0MB) "
    "CPU [0%@729,0%@1036,0%@1036,0%@1036,0%@729,0%@729] GR3D_FREQ 0% cpu@54.937C soc2@55.562C soc0@56.156C "
    "gpu@55.468C tj@56.656C soc1@56.656C VDD_IN 4673mW/4673mW VDD_CPU_GPU_CV 527mW/527mW VDD_SOC 1339mW/1339mW",
    "07-29-2026 18:00:28 RAM 2272/7620MB (lfb 4x4MB) SWAP 221/3810MB (cached 0MB) "
    "CPU [0%@729,0%@729,0%@729,0%@729,0%@729,0%@729] GR3D_FREQ 0% cpu@54.75C soc2@55.625C soc0@56C "
    "gpu@55.656C tj@56.593C soc1@56.593C VDD_IN 4673mW/4673mW VDD_CPU_GPU_CV 527mW/527mW VDD_SOC 1339mW/1339mW",
    "05-05-2025 06:05:39 RAM 2639/7620MB (lfb 9x4MB) SWAP 0/3810MB (cached 0MB) "
    "CPU [1%@729,4%@729,8%@729,4%@729,5%@729,4%@729] GR3D_FREQ 0% cpu@44.156C soc2@43.781C soc0@44.687C "
    "gpu@45.968C tj@45.968C soc1@45.312C VDD_IN 5263mW/5263mW VDD_CPU_GPU_CV 717mW/717mW VDD_SOC 1794mW/1794mW",
]

NV_TEGRA_RELEASE_R35_4_1 = (
    "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, "
    "DATE: Tue Aug  1 19:57:35 UTC 2023\n"
)
NV_TEGRA_RELEASE_R35_1_0 = (
    "# R35 (release), REVISION: 1.0, GCID: 31346300, BOARD: t186ref, EABI: aarch64, "
    "DATE: Thu Aug 25 18:41:45 UTC 2022\n"
)

NVPMODEL_ORIN_NANO = "NV Power Mode: 25W\n1\n"
NVPMODEL_MAXN = "NV Power Mode: MAXN\n0\n"
NVPMODEL_VERBOSE = (
    "NVPM VERB: Config file: /etc/nvpmodel.conf\n"
    "NVPM VERB: parsing done for /etc/nvpmodel.conf\n"
    "NVPM VERB: Current mode: NV Power Mode: 25W\n"
    "1\n"
    "NVPM VERB: PARAM CPU_ONLINE: ARG CORE_0: PATH /sys/devices/system/cpu/cpu0/online: REAL_VAL: 1 CONF_VAL: 1\n"
    "NVPM VERB: PARAM CPU_ONLINE: ARG CORE_1: PATH /sys/devices/system/cpu/cpu1/online: REAL_VAL: 1 CONF_VAL: 1\n"
)
