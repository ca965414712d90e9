# Astro Runtime 3.3 is Apache Airflow 3.3.x: its MAJOR.MINOR must match the apache-airflow pin in
# requirements-dev.txt (tests/packaging/test_dockerfile.py checks it; docs/upgrading.md says how to bump).
# The Runtime's ONBUILD steps install packages.txt and requirements.txt and copy the project
# (less .dockerignore); the steps below add what the kit needs on top.
FROM astrocrpublic.azurecr.io/runtime:3.3-7

# `import airlock` resolves from include/; AIRLOCK_HOME anchors dags/registry/ and dbt_project/.
# LocalExecutor tasks (`astro dev start`) fork from workers that preloaded the DAGs' imports
# (airlock/preload.py); Celery and Kubernetes executors ignore the two scheduler settings.
ENV PYTHONPATH=/usr/local/airflow/include \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    AIRLOCK_HOME=/usr/local/airflow \
    AIRLOCK_DBT_VENV=/usr/local/airflow/dbt_venv \
    AIRLOCK_DBT_EXECUTABLE=/usr/local/airflow/dbt_venv/bin/dbt \
    AIRFLOW__SCHEDULER__MP_START_METHOD=forkserver \
    AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD=airlock.preload

# dbt gets its own virtualenv (dbt and Airflow pin conflicting packages). The pins come from
# requirements-dbt.txt; its lint-only tools (sqlfluff) are left out of the image.
COPY --chown=astro:0 requirements-dbt.txt /tmp/requirements-dbt.txt
RUN grep -v '^sqlfluff' /tmp/requirements-dbt.txt > /tmp/requirements-dbt-runtime.txt \
    && python -m venv "${AIRLOCK_DBT_VENV}" \
    && "${AIRLOCK_DBT_VENV}/bin/pip" install --no-cache-dir -r /tmp/requirements-dbt-runtime.txt \
    && "${AIRLOCK_DBT_EXECUTABLE}" --version

# Explicit copies of what the DAGs read at parse time, so the image is right even if the ONBUILD
# copy changes; .dockerignore keeps dbt's target/, logs and DuckDB files out of both.
COPY --chown=astro:0 include/ /usr/local/airflow/include/
COPY --chown=astro:0 dbt_project/ /usr/local/airflow/dbt_project/

# The manifest is built into the image, so parsing a DAG needs no dbt and never runs `dbt ls`.
# Parsing opens no warehouse, but dbt-duckdb resolves the profile's path: point it at scratch.
RUN mkdir -p /tmp/dbt-parse \
    && if [ -f /usr/local/airflow/dbt_project/packages.yml ]; then \
         AIRLOCK_WAREHOUSE_DIR=/tmp/dbt-parse "${AIRLOCK_DBT_EXECUTABLE}" deps \
           --project-dir /usr/local/airflow/dbt_project --profiles-dir /usr/local/airflow/dbt_project; \
       fi \
    && AIRLOCK_WAREHOUSE_DIR=/tmp/dbt-parse "${AIRLOCK_DBT_EXECUTABLE}" parse --quiet --target local \
         --project-dir /usr/local/airflow/dbt_project --profiles-dir /usr/local/airflow/dbt_project \
    && test -s /usr/local/airflow/dbt_project/target/manifest.json \
    && rm -rf /tmp/dbt-parse /usr/local/airflow/dbt_project/logs
