"""Auth manager of the live stack: Airflow's SimpleAuthManager, with some users limited to some DAGs.

SimpleAuthManager grants by role only; deployments on FAB or Keycloak grant read access per DAG.
``MLOPS_TEST_DAG_SCOPES`` (JSON ``{"user": ["dag_id", ...]}``) limits the users it names to those
DAGs, so the Models page's per-dataset checks are exercised through the real auth-manager
interface inside the real api-server. Users it does not name are unchanged.
"""

from __future__ import annotations

import json
import os

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager


class DagScopedAuthManager(SimpleAuthManager):
    def is_authorized_dag(self, *, method, user, access_entity=None, details=None) -> bool:
        allowed = json.loads(os.environ.get("MLOPS_TEST_DAG_SCOPES") or "{}").get(user.get_name())
        if allowed is not None and (details is None or details.id not in allowed):
            return False
        return super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details)
