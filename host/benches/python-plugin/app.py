"""The reference plugin's `records` rules in Python: a large (CPython-based)
component of the records:plugin/plugin world, built by the bench harness with
componentize-py to measure loading a big plugin from the compiled-code cache.
It also shows that plugins from other toolchains run unchanged."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import store, types

PAGE = 256


class Records(exports.Records):
    def create_record(self, name: str, value: int) -> int:
        name = name.strip()
        if not name or len(name.encode()) > 256:
            raise Err(types.Error_Invalid("name must be 1 to 256 bytes"))
        return store.insert(name, value)

    def update_record(self, id: int, value: int) -> None:
        store.update(id, value)

    def get_record(self, id: int):
        return store.get(id)

    def get_all_records(self):
        records, after = [], None
        while True:
            page = store.scan(after, PAGE)
            records.extend(page)
            if len(page) < PAGE:
                return records
            after = page[-1].id

    def delete_record(self, id: int) -> None:
        store.delete(id)
