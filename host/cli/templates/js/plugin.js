// {{name}}: a records plugin (world `{{world}}` of wit/records.wit), built with
// componentize-qjs (QuickJS). Each exported WIT interface is an exported object
// named after it in camelCase; store imports come from "records:plugin/store@0.1.0".
//
// WIT `result<T, error>`: return T for ok; throw an `error` variant value such as
// { tag: "invalid", val: "..." } for err. A failing store call throws an Error whose
// `payload` is the store's error; rethrowing it returns that error unchanged.
// Throwing anything else (an Error, a string) traps the plugin.
//
// s64 values (ids, values, deltas) are JavaScript numbers: exact only between
// -(2^53 - 1) and 2^53 - 1. See README.md.
import * as store from "records:plugin/store@0.1.0";

const MAX_NAME_BYTES = 256;
const SCAN_PAGE = 256;
// What Rust's str::trim removes (Unicode White_Space); String.prototype.trim
// would also remove U+FEFF.
const WS = "[\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]+";
const EDGE_WHITESPACE = new RegExp(`^${WS}|${WS}$`, "g");

const invalid = (message) => ({ tag: "invalid", val: message });

// UTF-8 length of a string (QuickJS has no TextEncoder).
function utf8Bytes(s) {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0);
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}

export const records = {
  createRecord(name, value) {
    name = name.replace(EDGE_WHITESPACE, "");
    const size = utf8Bytes(name);
    if (size === 0) throw invalid("name must not be empty");
    if (size > MAX_NAME_BYTES) {
      throw invalid(`name is ${size} bytes, at most ${MAX_NAME_BYTES} are allowed`);
    }
    return store.insert(name, value);
  },

  updateRecord(id, value) {
    store.update(id, value);
  },

  getRecord(id) {
    return store.get(id); // a record, or null for none
  },

  // The host caps a page, so ask page by page until a short page comes back.
  getAllRecords() {
    const all = [];
    let after = null;
    for (;;) {
      const page = store.scan(after, SCAN_PAGE);
      all.push(...page);
      if (page.length < SCAN_PAGE) return all;
      after = page[page.length - 1].id;
    }
  },

  deleteRecord(id) {
    store.delete(id);
  },
};
// {{#counters}}

// Counter arithmetic is refused, not rounded, outside the exact range of numbers.
const exact = (...values) => values.every(Number.isSafeInteger);

// One write transaction per call: nothing can change the records between the read
// and the write. Throwing before commit drops the transaction, which rolls it back.
export const counters = {
  increment(id, delta) {
    const txn = store.beginWrite();
    const record = txn.get(id);
    if (record === null) throw { tag: "not-found", val: id };
    const value = record.value + delta;
    if (!exact(record.value, delta, value)) {
      throw invalid(`${record.value} + ${delta} does not fit in a JavaScript safe integer`);
    }
    txn.update(id, value);
    store.WriteTxn.commit(txn);
    return value;
  },

  transfer(source, target, amount) {
    const txn = store.beginWrite();
    const from = txn.get(source);
    if (from === null) throw { tag: "not-found", val: source };
    const to = txn.get(target);
    if (to === null) throw { tag: "not-found", val: target };
    if (source === target) throw invalid(`source and target are the same record (${source})`);
    if (amount < 0) throw invalid(`amount must not be negative, got ${amount}`);
    const remaining = from.value - amount;
    if (!exact(from.value, amount) || remaining < 0) {
      throw invalid(`record ${source} has ${from.value}, cannot move ${amount} out of it`);
    }
    const received = to.value + amount;
    if (!exact(to.value, received)) throw invalid(`record ${target} would overflow`);
    txn.update(source, remaining);
    txn.update(target, received);
    store.WriteTxn.commit(txn);
  },
};
// {{/counters}}
