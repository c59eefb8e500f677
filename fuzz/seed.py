#!/usr/bin/env python3
"""Seeds each fuzz target's corpus from the project's fixtures: `python3 fuzz/seed.py CORPUS_DIR`.

Meta's webhook bodies (tests/fixtures/meta and the `whatsapp` lines of every events file),
the automation and workspace documents of the scenarios and examples, and the texts,
durations, phones and integration bodies found in them. Each seed is named by the SHA-1 of
its bytes, as libFuzzer names what it adds, so seeding again adds nothing twice.
"""

import hashlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
DURATION = re.compile(r"^\d+[dhms](\d+[hms])*$")
PHONE_KEYS = {"phone", "wa_id", "from", "recipient_id", "user_id", "from_user_id", "recipient_user_id"}


def strings(value, key=None):
    """Every (key, string) pair in a JSON value."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, list):
        for item in value:
            yield from strings(item, key)
    elif isinstance(value, dict):
        for k, item in value.items():
            yield from strings(item, k)


def events():
    """Every line of every events file, read."""
    for path in sorted([*FIXTURES.glob("scenarios/*/events.jsonl"), ROOT / "examples" / "events.jsonl"]):
        for line in path.read_text().splitlines():
            if line.strip():
                yield json.loads(line)


def main(corpus: Path) -> None:
    seeds: dict[str, list[bytes]] = {}

    def add(target: str, seed: bytes | str) -> None:
        seeds.setdefault(target, []).append(seed.encode() if isinstance(seed, str) else seed)

    webhooks = [p.read_bytes() for p in sorted(FIXTURES.glob("meta/*.json")) if "message_templates" not in p.name]
    webhooks += [json.dumps(e["whatsapp"]).encode() for e in events() if "whatsapp" in e]
    for body in webhooks:
        for target in ("webhook_strict", "webhook_serde", "webhook_differential"):
            add(target, body)

    automation_files = sorted([*FIXTURES.glob("scenarios/*/automations.json"), ROOT / "examples" / "automations.json"])
    workspace_files = sorted([*FIXTURES.glob("scenarios/*/workspace.json"), *FIXTURES.glob("scenarios/workspace.json"),
                              ROOT / "examples" / "workspace.json"])
    documents = []
    for path in automation_files:
        add("automation", path.read_bytes())
        value = json.loads(path.read_text())
        documents += value if isinstance(value, list) else [value]
    for automation in documents:
        add("automation", json.dumps(automation))
    for path in workspace_files:
        add("workspace", path.read_bytes())
        documents.append(json.loads(path.read_text()))

    for _, text in strings(documents):
        if "{{" in text:
            add("interpolation", text)
        if DURATION.match(text):
            add("duration", text)
    for key, text in strings([*map(json.loads, webhooks), *events()]):
        if key in PHONE_KEYS:
            add("phone", text)
    for event in events():
        if "integration" in event:
            add("integration_hook", json.dumps(event["integration"]["body"]))

    for target, items in sorted(seeds.items()):
        directory = corpus / target
        directory.mkdir(parents=True, exist_ok=True)
        for seed in items:
            (directory / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
        print(f"{target}: {len(set(items))} seeds", file=sys.stderr)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
