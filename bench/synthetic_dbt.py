"""Generate a synthetic dbt project shaped like the real one, at benchmark scale.

Layers as analysts build them: staging models over generated rows, then intermediate and mart models that
each `ref` one to four earlier models, mostly from the layer just below (realistic fan-in: many models
read a few popular ones). Every model has a schema yml with a `not_null` test, so 600 models give about
1,200 dbt nodes, like the projects FIELD-NOTES measured. Models carry the `orders` tag (the dataflow the
processing DAG selects); a short `inventory` chain keeps that DAG non-empty.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

PROFILES = """airlock:
  target: local
  outputs:
    local:
      type: duckdb
      path: "{{ env_var('AIRLOCK_WAREHOUSE_DIR', '.') }}/{{ var('tenant_id', 'dev') }}.duckdb"
      schema: "{{ var('tenant_schema', 'dev') }}"
      threads: 1
"""

PROJECT = """name: airlock
version: "1.0.0"
config-version: 2
profile: airlock
flags:
  send_anonymous_usage_stats: false
vars:
  tenant_id: dev
  tenant_schema: dev
  dataflow: all
  batch_id: local
models:
  airlock:
    +materialized: {materialized}
    staging: {{+materialized: view}}
"""

GENERATE_SCHEMA = """{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ var('tenant_schema') }}{% if custom_schema_name %}_{{ custom_schema_name }}{% endif %}
{%- endmacro %}
"""


def _model_sql(parents: list[str], index: int) -> str:
    if not parents:
        return f"select i as id, i % 97 as customer_id, (i * {index + 1}) % 1000 as amount\nfrom range(200) as t (i)\n"
    first, *rest = parents
    joins = "".join(f"left join {{{{ ref('{p}') }}}} as p{n} on p0.id = p{n}.id\n" for n, p in enumerate(rest, 1))
    total = " + ".join(f"coalesce(p{n}.amount, 0)" for n in range(len(parents)))
    return f"select p0.id, p0.customer_id, ({total}) % 100000 as amount\nfrom {{{{ ref('{first}') }}}} as p0\n{joins}"


def generate(root: Path, n_models: int = 600, seed: int = 7, materialized: str = "view") -> Path:
    """Write the project under `root` (replaced if present) and return its path.

    :param n_models: models tagged `orders`; about a tenth are staging (no parents).
    :param materialized: of non-staging models; `view` keeps `dbt build` about parse+DDL cost.
    """
    rng = random.Random(seed)
    if root.exists():
        shutil.rmtree(root)
    (root / "models").mkdir(parents=True)
    (root / "macros").mkdir()
    (root / "dbt_project.yml").write_text(PROJECT.format(materialized=materialized))
    (root / "profiles.yml").write_text(PROFILES)
    (root / "macros" / "generate_schema_name.sql").write_text(GENERATE_SCHEMA)

    n_staging = max(5, n_models // 10)
    layers: list[list[str]] = [[f"stg_{i:04d}" for i in range(n_staging)]]
    rest = n_models - n_staging
    per_layer = max(1, rest // 6)
    names_left = [f"m_{i:04d}" for i in range(rest)]
    while names_left:
        layers.append(names_left[:per_layer])
        names_left = names_left[per_layer:]

    popular: list[str] = []
    for depth, layer in enumerate(layers):
        folder = root / "models" / ("staging" if depth == 0 else f"layer_{depth}")
        folder.mkdir()
        yml = ["version: 2", "models:"]
        for index, name in enumerate(layer):
            parents: list[str] = []
            if depth:
                below, older = layers[depth - 1], [m for lay in layers[:depth] for m in lay]
                k = rng.choice((1, 1, 2, 2, 3, 4))
                pool = below if rng.random() < 0.7 else older
                # A few popular models are read by many: the fan-in real marts have.
                if popular and rng.random() < 0.3:
                    parents.append(rng.choice(popular))
                parents += rng.sample(pool, min(k, len(pool)))
                parents = list(dict.fromkeys(parents))
            if rng.random() < 0.05:
                popular.append(name)
            (folder / f"{name}.sql").write_text("{{ config(tags=['orders']) }}\n" + _model_sql(parents, index))
            yml += [f"  - name: {name}", "    columns:", "      - name: id", "        data_tests: [not_null]"]
        (folder / "_models.yml").write_text("\n".join(yml) + "\n")

    inventory = root / "models" / "inventory"
    inventory.mkdir()
    previous: list[str] = []
    for i in range(3):
        name = f"inv_{i}"
        (inventory / f"{name}.sql").write_text("{{ config(tags=['inventory']) }}\n" + _model_sql(previous, i))
        previous = [name]
    return root
