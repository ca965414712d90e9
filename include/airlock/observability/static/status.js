// airlock: Tenant batches, an Airflow 3 UI plugin page (react_apps; plugins/airlock_status_plugin.py).
//
// Airflow's UI imports this ES module and renders the component it leaves on globalThis.AirflowPlugin.
// It is drawn with the React and Chakra UI instances Airflow publishes on globalThis for plugins, so
// it has Airflow's look, theme (light/dark) and state colours, and it needs no build step and no npm
// package: the file is what runs. Data: <airflow>/airlock/status/api/overview (Airflow login, cookie).
// Read when rendering, not at import: the pure helpers below are also imported by node's test runner.
const React = globalThis.React ?? {};
const C = globalThis.ChakraUI ?? {};
const h = (...args) => React.createElement(...args);

// Our batch states on Airflow's own state colour tokens (its theme's semanticTokens).
export const PALETTE = {
  done: "success",
  failed: "failed",
  processing: "running",
  snapshotted: "queued",
  waiting: "scheduled",
  late: "up_for_retry",
  quarantined: "awaiting_input",
  "no batches": "none",
};
export const ATTENTION = ["quarantined", "failed", "late"];
const PAGE_SIZE = 200;
const REFRESH_MS = 30000;

export function formatAge(seconds) {
  if (seconds === null || seconds === undefined) return null;
  const s = Math.max(0, seconds);
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]]) {
    if (s >= size) return `${Math.floor(s / size)}${unit}`;
  }
  return `${Math.floor(s)}s`;
}

export function ago(seconds) {
  const age = formatAge(seconds);
  return age === null ? "never" : `${age} ago`;
}

// The overview's query: the server filters (tenant substring, a state of any recent batch, attention
// only) and sends at most `limit` pairs, so 1,000 tenants are not 2.5 MB of JSON every 30 s.
export function overviewQuery({ history, tenant = "", state = "", attentionOnly = false, limit = PAGE_SIZE }) {
  const params = new URLSearchParams({ history: String(history), limit: String(limit) });
  if (tenant.trim()) params.set("tenant", tenant.trim());
  if (state) params.set("state", state);
  if (attentionOnly) params.set("attention", "true");
  return `overview?${params}`;
}

function apiUrl(path) {
  return new URL(`airlock/status/api/${path}`, document.baseURI).toString();
}

function useOverview(query) {
  const [state, setState] = React.useState({ data: null, error: null, loading: true });
  React.useEffect(() => {
    let cancelled = false;
    const load = () =>
      fetch(apiUrl(query), { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`${r.status} ${r.statusText}`))))
        .then((data) => !cancelled && setState({ data, error: null, loading: false }))
        .catch((error) => !cancelled && setState((s) => ({ ...s, error: String(error), loading: false })));
    load();
    const timer = setInterval(load, REFRESH_MS);
    return () => {
      cancelled = true;
      clearInterval(timer);
    };
  }, [query]);
  return state;
}

function StateBadge({ state, children }) {
  return h(C.Badge, { colorPalette: PALETTE[state] || "none", variant: "solid", "data-state": state }, children || state);
}

// One square per recent batch, oldest to newest like Airflow's grid; a link to the batch's run.
function HealthBar({ batches }) {
  return h(
    C.HStack,
    { gap: "2px", "data-testid": "health-bar" },
    batches.map((b) => {
      const square = h(C.Box, {
        key: b.batch_id,
        width: "14px",
        height: "20px",
        borderRadius: "2px",
        bg: `${PALETTE[b.state] || "none"}.solid`,
        title: `${b.batch_id}: ${b.label} · ${ago(b.age_seconds)}${b.reasons ? "\n" + b.reasons.join("\n") : ""}`,
        "data-batch": b.batch_id,
        "data-state": b.state,
      });
      return b.run_url ? h("a", { key: b.batch_id, href: b.run_url }, square) : square;
    }),
  );
}

// Why a batch needs a person, inline: the quarantine reason, what a late batch lacks, the failed task.
function Attention({ batch }) {
  const links = [];
  if (batch.run_url) links.push(h(C.Link, { key: "run", href: batch.run_url, colorPalette: "blue" }, "run"));
  for (const task of batch.failed_tasks || []) {
    links.push(
      h(C.Link, { key: task.task_id, href: task.url, colorPalette: "blue", "data-log": task.task_id }, `log of ${task.task_id}`),
    );
  }
  return h(
    C.Box,
    { "data-attention": batch.state, "data-batch": batch.batch_id, mb: 1 },
    h(C.HStack, { gap: 2, wrap: "wrap" }, h(StateBadge, { state: batch.state }, batch.label), h(C.Code, null, batch.batch_id), ...links),
    (batch.reasons || []).map((reason, i) => h(C.Text, { key: i, fontSize: "sm", color: "fg.muted", "data-reason": "" }, reason)),
  );
}

function PairRow({ pair }) {
  const Cell = C.Table.Cell;
  return h(
    C.Table.Row,
    { "data-tenant": pair.tenant_id, "data-dataflow": pair.dataflow, "data-state": pair.state },
    h(Cell, null, h(C.Text, { fontWeight: "semibold" }, pair.tenant_id)),
    h(Cell, null, pair.dag_id ? h(C.Link, { href: new URL(`dags/${pair.dag_id}`, document.baseURI).toString() }, pair.dataflow) : pair.dataflow),
    h(Cell, null, pair.freshness_seconds === null ? h(C.Text, { color: "fg.muted" }, "no success yet") : formatAge(pair.freshness_seconds)),
    h(Cell, null, pair.batches.length ? h(HealthBar, { batches: pair.batches }) : h(C.Text, { color: "fg.muted" }, "no batches")),
    h(Cell, null, h(StateBadge, { state: pair.state }, pair.latest.label), pair.latest.batch_id ? h(C.Text, { fontSize: "xs", color: "fg.muted" }, `${pair.latest.batch_id} · ${ago(pair.latest.age_seconds)}`) : null),
    h(Cell, null, pair.attention.map((b) => h(Attention, { key: b.batch_id, batch: b }))),
  );
}

function Watchers({ watchers }) {
  if (!watchers.length) {
    return h(C.Text, { color: "fg.muted", "data-testid": "no-watchers" }, "No asset watchers registered (a folder landing zone has none).");
  }
  const { Root, Header, Row, ColumnHeader, Body, Cell } = C.Table;
  return h(
    Root,
    { size: "sm", variant: "outline", "data-testid": "watchers" },
    h(Header, null, h(Row, null, ...["Watcher", "Queue", "State", "Detail", "Trigger since"].map((t) => h(ColumnHeader, { key: t }, t)))),
    h(
      Body,
      null,
      watchers.map((w) =>
        h(
          Row,
          { key: `${w.asset}/${w.name}`, "data-watcher": w.name, "data-watcher-state": w.state },
          h(Cell, null, h(C.Text, { fontWeight: "semibold" }, w.name), h(C.Text, { fontSize: "xs", color: "fg.muted" }, `${w.asset} · ${w.trigger}`)),
          h(Cell, null, h(C.Code, null, w.queue || "-")),
          h(Cell, null, h(C.Badge, { colorPalette: w.state === "polling" ? "success" : "failed", variant: "solid" }, w.state)),
          h(Cell, null, w.detail),
          h(Cell, null, w.since ? new Date(w.since).toLocaleString() : "-"),
        ),
      ),
    ),
  );
}

function Disabled({ disabled }) {
  if (!disabled.length) return null;
  return h(
    C.Alert.Root,
    { status: "error", "data-testid": "disabled-tenants", mb: 4 },
    h(C.Alert.Indicator, null),
    h(
      C.Alert.Content,
      null,
      h(C.Alert.Title, null, `${disabled.length} tenant${disabled.length === 1 ? "" : "s"} disabled by an invalid file (the others run)`),
      h(
        C.Alert.Description,
        null,
        disabled.map((d) =>
          h(C.Box, { key: d.tenant_id, "data-disabled": d.tenant_id, mt: 1 }, h(C.Text, { fontWeight: "semibold" }, d.tenant_id), h(C.Code, { whiteSpace: "pre-wrap", display: "block" }, d.error)),
        ),
      ),
    ),
  );
}

export function TenantBatches() {
  const [history, setHistory] = React.useState(10);
  const [tenant, setTenant] = React.useState(new URLSearchParams(globalThis.location.search).get("tenant") || "");
  const [state, setState] = React.useState("");
  const [attentionOnly, setAttentionOnly] = React.useState(false);
  const [limit, setLimit] = React.useState(PAGE_SIZE);
  const [typed, setTyped] = React.useState(tenant); // the filter as typed; asked for once typing pauses
  React.useEffect(() => {
    const timer = setTimeout(() => setTenant(typed), 300);
    return () => clearTimeout(timer);
  }, [typed]);
  const { data, error, loading } = useOverview(overviewQuery({ history, tenant, state, attentionOnly, limit }));

  if (loading && !data) return h(C.Box, { p: 4 }, h(C.Spinner, null), " Loading tenant batches ...");
  if (!data) return h(C.Box, { p: 4 }, h(C.Alert.Root, { status: "error" }, h(C.Alert.Indicator, null), h(C.Alert.Title, null, `Could not load the status: ${error}`)));

  const pairs = data.pairs;
  const hidden = data.matched_pairs - pairs.length;
  const { Root, Header, Row, ColumnHeader, Body } = C.Table;
  const counts = Object.entries(data.counts);
  return h(
    C.Box,
    { p: 4, "data-testid": "airlock-status" },
    h(C.Heading, { size: "lg", mb: 1 }, "Tenant batches"),
    h(
      C.Text,
      { color: "fg.muted", mb: 3, "data-testid": "summary" },
      `${data.total_pairs} tenant × dataflow · newest batch of each: `,
      counts.length ? null : "nothing registered",
    ),
    h(C.HStack, { gap: 2, mb: 4, wrap: "wrap" }, counts.map(([s, n]) => h(StateBadge, { key: s, state: s }, `${n} ${s}`))),
    error ? h(C.Text, { color: "fg.error", mb: 2 }, `Refresh failed (${error}); showing the last good data.`) : null,
    h(Disabled, { disabled: data.disabled }),
    h(
      C.HStack,
      { gap: 3, mb: 3, wrap: "wrap" },
      h(C.Input, { placeholder: "Filter tenants", value: typed, onChange: (e) => setTyped(e.target.value), maxW: "xs", size: "sm", "data-testid": "tenant-filter" }),
      h(
        C.NativeSelect.Root,
        { size: "sm", maxW: "xs" },
        h(
          C.NativeSelect.Field,
          { value: state, onChange: (e) => setState(e.target.value), "data-testid": "state-filter" },
          h("option", { value: "" }, "any state"),
          Object.keys(PALETTE).map((s) => h("option", { key: s, value: s }, s)),
        ),
        h(C.NativeSelect.Indicator, null),
      ),
      h(
        "label",
        null,
        h("input", { type: "checkbox", checked: attentionOnly, onChange: (e) => setAttentionOnly(e.target.checked), "data-testid": "attention-only" }),
        " needs attention only",
      ),
      h(
        C.NativeSelect.Root,
        { size: "sm", maxW: "3xs" },
        h(
          C.NativeSelect.Field,
          { value: history, onChange: (e) => setHistory(Number(e.target.value)) },
          [5, 10, 20].map((n) => h("option", { key: n, value: n }, `${n} batches`)),
        ),
        h(C.NativeSelect.Indicator, null),
      ),
    ),
    data.total_pairs === 0
      ? h(C.Text, { color: "fg.muted", "data-testid": "empty" }, "No tenants registered yet: add dags/registry/tenants/<tenant>.yaml.")
      : h(
          Root,
          { size: "sm", variant: "outline", interactive: true, "data-testid": "grid" },
          h(Header, null, h(Row, null, ...["Tenant", "Dataflow", "Since last success", "Recent batches (oldest → newest)", "Newest batch", "Needs attention"].map((t) => h(ColumnHeader, { key: t }, t)))),
          h(Body, null, pairs.map((pair) => h(PairRow, { key: `${pair.tenant_id}/${pair.dataflow}`, pair }))),
        ),
    hidden > 0 ? h(C.Button, { size: "sm", mt: 2, onClick: () => setLimit(limit + PAGE_SIZE) }, `Show more (${hidden} hidden)`) : null,
    h(C.Heading, { size: "md", mt: 6, mb: 2 }, "Watchers"),
    h(Watchers, { watchers: data.watchers }),
    h(C.Text, { fontSize: "xs", color: "fg.muted", mt: 4 }, `Read from the landing, raw and quarantine storage in ${data.seconds}s at ${new Date(data.generated_at).toLocaleTimeString()}; refreshes every ${REFRESH_MS / 1000}s.`),
  );
}

globalThis.AirflowPlugin = TenantBatches;
