// node --test: the pure helpers of the status page (include/airlock/observability/static/status.js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { ATTENTION, PALETTE, ago, formatAge, overviewQuery } from "../../include/airlock/observability/static/status.js";

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

test("filters and the page size go to the server, which sends only the pairs shown", () => {
  assert.equal(overviewQuery({ history: 10 }), "overview?history=10&limit=200");
  const query = new URLSearchParams(
    overviewQuery({ history: 5, tenant: "  GLO ", state: "failed", attentionOnly: true, limit: 400 }).split("?")[1],
  );
  assert.deepEqual(Object.fromEntries(query), { history: "5", limit: "400", tenant: "GLO", state: "failed", attention: "true" });
  assert.equal(overviewQuery({ history: 10, tenant: "   " }), "overview?history=10&limit=200"); // blank: no filter
});
