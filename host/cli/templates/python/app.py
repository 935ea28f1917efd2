"""{{name}}: a records plugin (world `{{world}}` of wit/records.wit).

componentize-py generates the `wit_world` package at build time; each exported
WIT interface is a class with the interface's name. A WIT `result<T, error>`
is a plain return for ok and `raise Err(...)` for err; store calls that fail
raise `Err(error)` the same way.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import store
from wit_world.imports.types import Error_Invalid, Error_NotFound, Record

MAX_NAME_BYTES = 256
SCAN_PAGE = 256
# What Rust's str::trim removes (Unicode White_Space); plain str.strip() would
# also remove U+001C..U+001F.
WHITESPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def invalid(message: str) -> Err:
    return Err(Error_Invalid(message))


class Records(exports.Records):
    def create_record(self, name: str, value: int) -> int:
        name = name.strip(WHITESPACE)
        size = len(name.encode("utf-8"))
        if size == 0:
            raise invalid("name must not be empty")
        if size > MAX_NAME_BYTES:
            raise invalid(f"name is {size} bytes, at most {MAX_NAME_BYTES} are allowed")
        return store.insert(name, value)

    def update_record(self, id: int, value: int) -> None:
        store.update(id, value)

    def get_record(self, id: int) -> Record | None:
        return store.get(id)

    def get_all_records(self) -> list[Record]:
        # The host caps a page, so ask page by page until a short page comes back.
        records: list[Record] = []
        after = None
        while True:
            page = store.scan(after, SCAN_PAGE)
            records.extend(page)
            if len(page) < SCAN_PAGE:
                return records
            after = page[-1].id

    def delete_record(self, id: int) -> None:
        store.delete(id)
# {{#counters}}


I64_MIN, I64_MAX = -(2**63), 2**63 - 1


def fits(value: int) -> bool:
    return I64_MIN <= value <= I64_MAX


class Counters(exports.Counters):
    # One write transaction per call: nothing can change the records between the
    # read and the write. Raising before commit drops `txn`, which rolls it back.
    # (Don't use `with store.begin_write() as txn:` together with commit: in
    # componentize-py 0.25.1, leaving the block after commit traps with
    # "TypeError: cannot unpack non-iterable NoneType object".)
    def increment(self, id: int, delta: int) -> int:
        txn = store.begin_write()
        record = txn.get(id)
        if record is None:
            raise Err(Error_NotFound(id))
        value = record.value + delta
        if not fits(value):
            raise invalid(f"{record.value} + {delta} does not fit in a 64-bit value")
        txn.update(id, value)
        store.WriteTxn.commit(txn)
        return value

    def transfer(self, source: int, target: int, amount: int) -> None:
        txn = store.begin_write()
        src = txn.get(source)
        if src is None:
            raise Err(Error_NotFound(source))
        dst = txn.get(target)
        if dst is None:
            raise Err(Error_NotFound(target))
        if source == target:
            raise invalid(f"source and target are the same record ({source})")
        if amount < 0:
            raise invalid(f"amount must not be negative, got {amount}")
        remaining = src.value - amount
        if remaining < 0:
            raise invalid(f"record {source} has {src.value}, cannot move {amount} out of it")
        received = dst.value + amount
        if not fits(received):
            raise invalid(f"record {target} would overflow")
        txn.update(source, remaining)
        txn.update(target, received)
        store.WriteTxn.commit(txn)
# {{/counters}}
