"""junit.xml: one test case per artifact × budget, so CI shows which budget of which artifact failed."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from edgeconv.results import ERROR, SKIPPED, BuildResult


def render_junit(result: BuildResult) -> str:
    suite = ET.Element("testsuite", name=f"edgeconv.{result.spec_name}")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for artifact in result.artifacts:
        classname = f"edgeconv.{artifact.target}.{artifact.precision}"
        if artifact.status in (SKIPPED, ERROR):
            case = ET.SubElement(suite, "testcase", classname=classname, name="verify")
            kind = "skipped" if artifact.status == SKIPPED else "error"
            ET.SubElement(case, kind, message=artifact.reason or artifact.status)
            counts["tests"] += 1
            counts["skipped" if kind == "skipped" else "errors"] += 1
            continue
        checks = artifact.budgets or []
        if not checks:
            ET.SubElement(suite, "testcase", classname=classname, name="verify")
            counts["tests"] += 1
        for check in checks:
            case = ET.SubElement(suite, "testcase", classname=classname, name=check.name)
            counts["tests"] += 1
            if not check.passed:
                counts["failures"] += 1
                failure = ET.SubElement(case, "failure", message=f"{check.name}: {check.shortfall}")
                failure.text = f"limit {check.limit}, measured {check.value}"
    for key, value in counts.items():
        suite.set(key, str(value))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
