"""Validates records-host serve's OpenAPI document and checks live answers
against it.

Usage: openapi_live.py BASE_URL REFERENCE_PLUGIN.wasm

1. GET /openapi.json validates as OpenAPI 3.1 (openapi-spec-validator).
2. Every route the document lists is requested at least once; every answer's
   status must be one the operation documents, with the documented content
   type, and a JSON body must be valid against the documented schema
   (OpenAPI 3.1's JSON Schema dialect, $refs resolved in the document).
Exits 1 with one line per failure.
"""

import json
import re
import sys
import urllib.error
import urllib.request

from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

BASE, PLUGIN = sys.argv[1], sys.argv[2]
failures = []
seen = set()


def request(method, path, body=None, content_type=None, headers=None):
    req = urllib.request.Request(BASE + path, data=body, method=method)
    if content_type:
        req.add_header("Content-Type", content_type)
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=60) as answer:
            return answer.status, answer.headers.get("Content-Type", ""), answer.read()
    except urllib.error.HTTPError as answer:
        return answer.code, answer.headers.get("Content-Type", ""), answer.read()


def operation(doc, method, path):
    """The documented operation whose template matches `path`."""
    for template, item in doc["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path.split("?")[0]) and method.lower() in item:
            return template, item[method.lower()]
    return None, None


def check(doc, method, path, expected, body=None, content_type=None, headers=None):
    status, ctype, raw = request(method, path, body, content_type, headers)
    where = f"{method} {path} -> {status}"
    if status != expected:
        failures.append(f"{where}: expected {expected}: {raw[:200]!r}")
    template, op = operation(doc, method, path)
    if op is None:
        failures.append(f"{where}: no documented operation")
        return status, raw
    seen.add((method.lower(), template))
    if content_type == "application/json" and body is not None and expected < 300:
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        errors = list(validator(doc, schema).iter_errors(json.loads(body)))
        if errors:
            failures.append(f"{where}: the request body is not what the document says: {errors[0].message}")
    response = op["responses"].get(str(status))
    if response is None:
        failures.append(f"{where}: status {status} is not documented for {method} {template}")
        return status, raw
    content = response.get("content", {})
    if not content:
        if raw:
            failures.append(f"{where}: documented without a body, answered {raw[:100]!r}")
        return status, raw
    media = ctype.split(";")[0].strip()
    if media not in content:
        failures.append(f"{where}: content type {media!r}, documented {sorted(content)}")
        return status, raw
    if media == "application/json":
        schema = content[media].get("schema", {})
        errors = list(validator(doc, schema).iter_errors(json.loads(raw)))
        for error in errors[:3]:
            failures.append(f"{where}: body invalid at {list(error.absolute_path)}: {error.message}")
    return status, raw


def validator(doc, schema):
    # $refs such as #/components/schemas/X resolve against the schema's root:
    # give it the document's components.
    return OAS31Validator({**schema, "components": doc.get("components", {})})


def main():
    status, _, raw = request("GET", "/openapi.json")
    if status != 200:
        sys.exit(f"GET /openapi.json -> {status}")
    doc = json.loads(raw)
    validate(doc)
    if not doc["openapi"].startswith("3.1"):
        sys.exit(f"openapi {doc['openapi']}, not 3.1")
    check(doc, "GET", "/openapi.json", 200)
    wasm = open(PLUGIN, "rb").read()
    t = "/v1/tenants/acme"
    call = lambda body, **kw: check(doc, "POST", f"{t}/call", kw.pop("expect", 200), json.dumps(body).encode(), "application/json", **kw)

    check(doc, "GET", "/healthz", 200)
    check(doc, "GET", "/metrics", 200)
    call({"function": "create-record", "args": ["first", 1]})
    call({"function": "get-record", "args": [1]})
    call({"function": "no-such-function", "args": []}, expect=404)
    call({"args": []}, expect=400)
    check(doc, "GET", f"{t}/lock", 200)

    check(doc, "POST", f"{t}/plugins", 201, wasm, "application/wasm", {"X-Message": "first"})
    check(doc, "POST", f"{t}/plugins", 415, wasm, "application/octet-stream")
    check(doc, "POST", f"{t}/plugins", 422, b"\0asm\x01\0\0\0", "application/wasm")
    check(doc, "GET", f"{t}/plugins", 200)
    check(doc, "GET", f"{t}/plugins/1", 200)
    check(doc, "GET", f"{t}/plugins/9", 404)
    check(doc, "GET", f"{t}/plugins/1/wasm", 200)
    check(doc, "POST", f"{t}/plugins/1/activate", 200)
    call({"function": "get-record", "args": [1]}, headers={"X-Plugin-Version": "1"})
    check(doc, "DELETE", f"{t}/plugins/1", 409)
    check(doc, "POST", f"{t}/plugins", 201, wasm, "application/wasm")
    check(doc, "DELETE", f"{t}/plugins/2", 204)

    s = f"{t}/scripts/report"
    check(doc, "POST", f"{t}/scripts/report/run", 409, b"{}", "application/json")
    check(doc, "POST", s, 422, b"not wasm", "application/wasm")
    check(doc, "GET", s, 200)
    check(doc, "GET", f"{s}/1", 404)
    check(doc, "GET", f"{s}/1/wasm", 404)
    check(doc, "POST", f"{s}/1/activate", 404)
    check(doc, "DELETE", f"{s}/1", 404)

    unvisited = [
        f"{method.upper()} {path}"
        for path, item in doc["paths"].items()
        for method in item
        if (method, path) not in seen
    ]
    if unvisited:
        failures.append(f"documented but not requested here: {unvisited}")
    for failure in failures:
        print(failure, file=sys.stderr)
    if failures:
        sys.exit(1)
    print(f"openapi: valid 3.1 document; {len(seen)} operations answered as documented")


main()
