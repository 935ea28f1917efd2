"""Four clients of `records-host serve` at once (called by .ci/plugins).

Each creates 10 records in a tenant of its own and reads every one back;
exits non-zero with the first wrong answers.
Usage: serve-clients.py URL NAME
"""

import json
import sys
import threading
import urllib.request

url, name = sys.argv[1], sys.argv[2]
errors = []


def call(tenant, function, args):
    body = json.dumps({"function": function, "args": args}).encode()
    request = urllib.request.Request(
        f"{url}/v1/tenants/{tenant}/call",
        body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def client(t):
    try:
        for i in range(1, 11):
            created = call(f"t{t}", "create-record", [f"r{i}", i * 10 - 5])
            if created != {"ok": i}:
                errors.append(f"t{t}: create {i} returned {created}")
            got = call(f"t{t}", "get-record", [i])
            if got != {"ok": {"id": i, "name": f"r{i}", "value": i * 10 - 5}}:
                errors.append(f"t{t}: get {i} returned {got}")
    except Exception as e:  # an HTTP error status or a dropped connection
        errors.append(f"t{t}: {e}")


threads = [threading.Thread(target=client, args=(t,)) for t in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if errors:
    sys.exit(f"serve {name}: {errors[:5]}")
print(f"serve {name}: 80 calls from 4 clients as expected")
