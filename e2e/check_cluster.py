"""After `pulumi up -s dev`: every Pod Ready (or Succeeded, for a Job's pods) and every Job Complete.

kubectl -n mlflow get pods,jobs -o json | python3 e2e/check_cluster.py
"""

import json
import sys
from typing import Any


def condition(item: dict[str, Any], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in item.get("status", {}).get("conditions", []))


def problems(listing: dict[str, Any]) -> list[str]:
    found = []
    items = listing.get("items", [])
    for item in items:
        name = f"{item['kind']}/{item['metadata']['name']}"
        if item["kind"] == "Job" and not condition(item, "Complete"):
            found.append(f"{name} is not Complete")
        elif item["kind"] == "Pod" and item.get("status", {}).get("phase") != "Succeeded" and not condition(item, "Ready"):
            found.append(f"{name} is {item.get('status', {}).get('phase')} and not Ready")
    if not any(item["kind"] == "Pod" for item in items):
        found.append("no pods at all")
    return found


if __name__ == "__main__":
    result = problems(json.load(sys.stdin))
    print("\n".join(result) or "every Pod Ready or Succeeded, every Job Complete")
    sys.exit(1 if result else 0)
