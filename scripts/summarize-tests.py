#!/usr/bin/env python3
"""Count every test result of scripts/test.sh: meson's testlog.json files,
pytest's JUnit XML files and fuzz result files (*.fuzz: "name ok|fail").
Prints the failures and a closing line "N passed, N failed, N skipped";
exits 1 when anything failed."""
import json
import pathlib
import sys
import xml.etree.ElementTree as ET

results = pathlib.Path(sys.argv[1])
passed, failed, skipped = 0, [], 0

for f in sorted(results.glob("meson-*.json")):
    lane = f.stem.removeprefix("meson-")
    for line in f.read_text().splitlines():
        t = json.loads(line)
        r = t["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed.append(f"{lane}: {t['name']} ({r})")

for f in sorted(results.glob("pytest-*.xml")):
    for case in ET.parse(f).getroot().iter("testcase"):
        name = f"{f.stem}: {case.get('classname')}.{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(name)
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1

for f in sorted(results.glob("*.fuzz")):
    for line in f.read_text().splitlines():
        name, _, verdict = line.partition(" ")
        if verdict.strip() == "ok":
            passed += 1
        else:
            failed.append(f"fuzz: {name} ({verdict.strip()})")

for name in failed:
    print(f"FAILED {name}")
print(f"{passed} passed, {len(failed)} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
