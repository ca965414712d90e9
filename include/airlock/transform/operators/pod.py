"""The build on Astro: the runner image in a Kubernetes pod, its log read back line by line.

The kit's equivalent of Cosmos's WATCHER_KUBERNETES producer, running the kit's runner entrypoint so the
pod, the ECS task and the local subprocess report alike. Each line the pod logs goes through
`log_formatter` (a documented KubernetesPodOperator parameter) into the build's results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from kubernetes.client import models as k8s

from airlock.isolation import IsolationConfig, pod_kwargs
from airlock.transform.operators import DbtBuildMixin
from airlock.transform.results import BuildLog


class PodDbtBuildOperator(DbtBuildMixin, KubernetesPodOperator):
    """One `dbt build` of the run in a pod of the runner image, as the run's tenant.

    Credentials come from the Kubernetes Secret `config.k8s_warehouse_secret` as environment (`env_from`);
    the tenant's processing role is assumed by the runner (`AIRLOCK_TENANT_ROLE_ARN`), never passed as a secret.

    :param config: placement (image, namespace, service account, sizes, the Secret, the role template).
    """

    def __init__(self, *, config: IsolationConfig, **kwargs: Any) -> None:
        selection = kwargs["selection"]
        cpu, memory = config.size(selection.heavy)
        placement = pod_kwargs(replace(config, cpu=cpu, memory=memory), {"airlock/dataflow": selection.dataflow})
        super().__init__(
            name=f"airlock-dbt-{selection.dataflow}".replace("_", "-")[:50],
            env_from=[k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=config.k8s_warehouse_secret))],
            do_xcom_push=False,
            **placement,
            **kwargs,
        )
        self.config = config
        self.log_formatter = self._format_line
        self._build: BuildLog | None = None

    def prepare(self, context: Any, run: Mapping[str, str], payload: Mapping[str, Any]) -> None:
        """Fill in what depends on the run: the command, the tenant's role, labels. Called just before the pod."""
        self.arguments = self.runner_args(payload)  # the image's ENTRYPOINT is `python -m airlock.isolation`
        env = {
            **self.runner_env(context, run, container=True),
            "AIRLOCK_TENANT_ROLE_ARN": self.config.k8s_tenant_role_arn_template.replace("{tenant}", run["tenant_id"]),
            "HOME": "/tmp",
        }
        self.env_vars = [k8s.V1EnvVar(name=k, value=v) for k, v in sorted(env.items())]
        self.labels = {**self.labels, "airlock/tenant": run["tenant_id"].replace("_", "-")}

    def launch(self, context: Any, run: Mapping[str, str], payload: Mapping[str, Any], build: BuildLog) -> None:
        self.prepare(context, run, payload)
        self._build = build
        try:
            KubernetesPodOperator.execute(self, context)
        finally:
            self._build = None

    def _format_line(self, container_name: str, message: str) -> str:
        """Every line the pod logs passes here: parsed into the build's results, shown as dbt's text."""
        if self._build is None:
            return message
        return self.feed(self._build, message) or message
