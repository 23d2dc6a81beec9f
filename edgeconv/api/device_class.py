"""``build --device CLASS``: the profiles of a device class this machine can build (it asks each runtime's
backend whether it is installed, so it sits above backends, not in the spec)."""

from __future__ import annotations

import difflib

from edgeconv.backends import get_backend
from edgeconv.errors import RuntimeUnavailable, SpecError
from edgeconv.spec import AUTO, TargetRef
from edgeconv.spec.targets import CALIBRATED, all_profiles


def device_targets(device_class: str, calibrated: bool, wanted: list[str] | None = None, generative: bool = False,
                   ) -> tuple[list[TargetRef], list[str]]:
    """``build --device CLASS``: every profile of that class whose runtime this machine has, each with every
    precision it builds (``auto``'s candidates; calibrated ones only when the spec has calibration data; only
    those in ``wanted`` unless it is None or ``[auto]``), and why each other profile of the class is left out.
    ``generative``: the decoder-LM profiles (task text-generation), else the others (a class holds both kinds).
    Unknown class (for that kind): SpecError; none runnable here: RuntimeUnavailable."""
    profiles = [p for p in all_profiles().values()
                if hasattr(get_backend(p.backend), "build_generative") == generative]
    classes = sorted({p.device_class for p in profiles if p.device_class})
    if device_class not in classes:
        close = difflib.get_close_matches(device_class, classes, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(classes)}"
        kind = " for decoder language models" if generative else ""
        raise SpecError(f"unknown device class '{device_class}'{kind} ({hint})",
                        fix="run `edgeconv targets` to see each profile's device class")
    refs, left_out = [], []
    for profile in profiles:
        if profile.device_class != device_class:
            continue
        reason = get_backend(profile.backend).unavailable_reason(profile)
        if reason:
            left_out.append(f"{profile.name}: {reason}")
            continue
        precisions = [p for p in profile.precisions if p != "best" and (calibrated or p not in CALIBRATED)
                      and (not wanted or AUTO in wanted or p in wanted)]
        if not precisions:
            left_out.append(f"{profile.name}: builds none of {', '.join(wanted or [])}")
            continue
        refs.append(TargetRef(name=profile.name, precisions=precisions))
    if not refs:
        raise RuntimeUnavailable(f"no runtime for device class '{device_class}' is installed here: "
                                 + "; ".join(left_out), fix="install one of them, or build on the device")
    return refs, left_out
