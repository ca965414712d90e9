// node --test: the pure helpers of the status page (include/airlock/observability/static/status.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { ATTENTION, PALETTE, ago, filterPairs, formatAge } from "../../include/airlock/observability/static/status.js";

const pair = (tenant_id, state, batches = [], attention = []) => ({ tenant_id, dataflow: "orders", state, batches, attention });

test("ages read like the CLI's, and a missing age is never '- ago'", () => {
  assert.equal(formatAge(42), "42s");
  assert.equal(formatAge(3 * 3600 + 5), "3h");
  assert.equal(formatAge(null), null);
  assert.equal(ago(undefined), "never");
  assert.equal(ago(120), "2m ago");
});

test("every state has one of Airflow's state colours, and attention states are the ones to act on", () => {
  for (const state of ["done", "failed", "processing", "snapshotted", "waiting", "late", "quarantined", "no batches"]) {
    assert.ok(PALETTE[state], state);
  }
  assert.deepEqual([...ATTENTION].sort(), ["failed", "late", "quarantined"]);
});

test("filters: tenant substring, a state of any recent batch, attention only", () => {
  const pairs = [
    pair("acme", "done", [{ state: "failed" }, { state: "done" }], [{ state: "failed" }]),
    pair("globex", "quarantined", [{ state: "quarantined" }], [{ state: "quarantined" }]),
    pair("initech", "done", [{ state: "done" }]),
  ];
  assert.deepEqual(filterPairs(pairs, { tenant: "GLO" }).map((p) => p.tenant_id), ["globex"]);
  assert.deepEqual(filterPairs(pairs, { state: "failed" }).map((p) => p.tenant_id), ["acme"]);
  assert.deepEqual(filterPairs(pairs, { attentionOnly: true }).map((p) => p.tenant_id), ["acme", "globex"]);
  assert.equal(filterPairs(pairs).length, 3);
});
