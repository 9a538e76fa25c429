#!/usr/bin/env python3
"""Sums test cases over meson test logs (testlog.json, one or more): doctest
executables report their own case counts; any other test (a script) counts
as one case. A JUnit XML file (pytest's --junitxml) counts each of its test
cases: failures and errors as failed, skips as neither (as doctest counts
them), the rest as passed."""
import json
import re
import sys
import xml.etree.ElementTree as ElementTree

SUMMARY = re.compile(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")

passed = failed = 0
for path in sys.argv[1:]:
    if path.endswith(".xml"):
        for case in ElementTree.parse(path).getroot().iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
            elif case.find("skipped") is None:
                passed += 1
        continue
    with open(path) as log:
        for line in log:
            test = json.loads(line)
            found = SUMMARY.findall(test.get("stdout", "") or "")
            if found:
                _, p, f = found[-1]
                passed += int(p)
                failed += int(f)
                if test["result"] != "OK" and int(f) == 0:
                    failed += 1  # crashed or timed out after its summary
            elif test["result"] in ("OK", "EXPECTEDFAIL", "SKIP"):
                passed += 1
            else:
                failed += 1
print(f"{passed} passed, {failed} failed")
