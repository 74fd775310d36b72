"""Lane policies in the worker: loaded at start, reloaded on change, pinned by version.

A run evaluates its first proposal with the current policy and re-evaluates
reviewer edits with that same version, so a policy change takes effect for new
runs only. Each version's files are kept in the app database for that.
"""

import json
import logging
from pathlib import Path
from threading import Lock

from sqlalchemy.engine import Engine
from sqlmodel import Session

from handrail.db import PolicySnapshot, utcnow
from policies.engine import LanePolicy, load_policy, load_policy_texts
from policies.schema import PolicyFileError

logger = logging.getLogger(__name__)

POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"


class PolicyVersionUnknown(LookupError):
    """No stored snapshot has that version."""


class PolicyStore:
    def __init__(self, engine: Engine, directory: Path = POLICY_DIR) -> None:
        self._engine = engine
        self._directory = directory
        self._current: dict[str, LanePolicy] = {}
        self._versions: dict[str, LanePolicy] = {}
        self._lock = Lock()

    def load_all(self, file_names: list[str]) -> None:
        """Load every lane's policy; a broken file raises, so the worker does not start.

        Raises:
            PolicyFileError: a policy file is invalid.
        """
        for name in file_names:
            policy = load_policy(self._directory / name)
            self._remember(name, policy)

    def current(self, file_name: str) -> LanePolicy:
        """Return the policy in the file now; if the file became invalid, the last valid one."""
        try:
            policy = load_policy(self._directory / file_name)
        except PolicyFileError as err:
            last = self._current.get(file_name)
            if last is None:
                raise
            logger.error("policy %s is invalid, still using %s: %s", file_name, last.version(), err)
            return last
        self._remember(file_name, policy)
        return policy

    def by_version(self, file_name: str, version: str) -> LanePolicy:
        """Return the policy a run pinned, from memory or the stored snapshot.

        Raises:
            PolicyVersionUnknown: the version was never stored.
        """
        cached = self._versions.get(version)
        if cached is not None:
            return cached
        with Session(self._engine) as session:
            snapshot = session.get(PolicySnapshot, version)
        if snapshot is None:
            raise PolicyVersionUnknown(f"policy version {version} of {file_name} is not stored")
        files: dict[str, str] = json.loads(snapshot.files_json)
        policy = load_policy_texts(file_name, files.__getitem__, folder="(snapshot)")
        self._versions[version] = policy
        return policy

    def _remember(self, file_name: str, policy: LanePolicy) -> None:
        with self._lock:
            self._current[file_name] = policy
            if policy.version() in self._versions:
                return
            self._versions[policy.version()] = policy
        with Session(self._engine) as session:
            if session.get(PolicySnapshot, policy.version()) is None:
                session.add(
                    PolicySnapshot(
                        version=policy.version(),
                        lane=policy.lane,
                        files_json=json.dumps(dict(policy.files), sort_keys=True),
                        created_at=utcnow(),
                    )
                )
                session.commit()
                logger.info("stored policy %s version %s", file_name, policy.version())
