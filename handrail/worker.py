"""Worker wiring: every lane workflow and activity, plus one write queue per target system."""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.audit import AuditActivities
from activities.context import ContextActivities
from activities.lane_state import LaneStateActivities
from activities.lanes import LaneRegistry, bind
from activities.policy import PolicyActivities
from activities.reasoning import ReasoningActivities
from activities.scan import ScanActivities
from activities.writeback import WritebackActivities
from adapters.base import SystemOfRecord
from adapters.llm.base import Reasoner
from adapters.llm.model_prompt import default_prompt_path
from adapters.llm.model_reasoner import ModelReasoner
from adapters.sandbox.adapter import SandboxAdapter
from adapters.sandbox.db import create_schema as create_sandbox_schema
from adapters.sandbox.db import make_engine as make_sandbox_engine
from contracts import EventEnvelope
from gateway.submit import submit_event
from handrail import db
from handrail.policy_store import POLICY_DIR, PolicyStore
from handrail.settings import Settings
from workflows.catalog import LANE_WORKFLOWS
from workflows.scan import WindowScanWorkflow
from workflows.spec import LaneSpec

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Resources the worker's activities share: databases, systems of record and lanes."""

    settings: Settings
    app_engine: Engine
    systems: dict[str, SystemOfRecord]
    lanes: LaneRegistry
    policies: PolicyStore


def build_runtime(settings: Settings, systems: dict[str, SystemOfRecord] | None = None) -> Runtime:
    """Open the app database and the systems of record, creating tables that are missing."""
    app_engine = db.make_engine(settings.app_database_url)
    db.create_schema(app_engine)
    if systems is None:
        sandbox_engine = make_sandbox_engine(settings.sandbox_database_url)
        create_sandbox_schema(sandbox_engine)
        systems = {"sandbox": SandboxAdapter(sandbox_engine)}
    # A broken policy file stops the worker here, before it takes any run.
    policies = PolicyStore(app_engine, settings.policy_dir or POLICY_DIR)
    specs = [lane.spec for lane in LANE_WORKFLOWS.values()]
    policies.load_all([spec.policy for spec in specs])
    lanes = LaneRegistry([bind(spec, _model_reasoner(spec, settings, policies)) for spec in specs])
    return Runtime(settings, app_engine, systems, lanes, policies)


def _model_reasoner(spec: LaneSpec, settings: Settings, policies: PolicyStore) -> Reasoner | None:
    """Build the model-backed reasoner when settings select it for the lane.

    Raises:
        ValueError: the model reasoner is selected but no model is configured.
        ReasonerAuthFailed: the API key variable is not set.
    """
    if settings.reasoner_for(spec.name) != "openai":
        return None
    if settings.model is None:
        raise ValueError(
            f"lane {spec.name} uses the openai reasoner but no model is configured; set "
            "HANDRAIL_MODEL__MODEL and HANDRAIL_MODEL__BASE_URL"
        )
    # NOTE: the reasoner keeps the policy targets it was built with; a policy
    # file changed while the worker runs reaches the model's schema at restart.
    return ModelReasoner(
        lane=spec.name,
        config=settings.model,
        prompt_path=default_prompt_path(spec.name),
        policy=policies.current(spec.policy),
    )


def build_workers(client: Client, runtime: Runtime, executor: ThreadPoolExecutor) -> list[Worker]:
    """Create the lane worker and one write worker per target system."""
    settings = runtime.settings

    async def submit(event: EventEnvelope) -> bool:
        result = await submit_event(client, runtime.app_engine, settings, event)
        return result.duplicate

    context = ContextActivities(runtime.lanes, runtime.systems)
    reasoning = ReasoningActivities(runtime.lanes)
    policy = PolicyActivities(runtime.lanes, runtime.policies)
    audit = AuditActivities(runtime.app_engine)
    lane_state = LaneStateActivities(runtime.app_engine)
    scan = ScanActivities(runtime.lanes, runtime.systems, submit)
    writeback = WritebackActivities(runtime.app_engine, runtime.systems)

    workers = [
        Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[*LANE_WORKFLOWS.values(), WindowScanWorkflow],
            activities=[
                context.fetch_context,
                reasoning.propose,
                policy.evaluate_policy,
                audit.record_audit,
                audit.notify_escalation,
                lane_state.lane_gate,
                scan.scan_window,
            ],
            activity_executor=executor,
        )
    ]
    for system in runtime.systems:
        workers.append(
            Worker(
                client,
                task_queue=settings.write_queue(system),
                activities=[writeback.write_back],
                activity_executor=executor,
                # A server-side limit shared by every worker on this queue, so
                # the target's API budget is kept however many workers run.
                max_task_queue_activities_per_second=settings.write_rate_per_second,
            )
        )
    return workers


async def run_worker(
    client: Client, runtime: Runtime, *, stop: asyncio.Event | None = None
) -> None:
    """Run all workers until ``stop`` is set or the task is cancelled."""
    with ThreadPoolExecutor(max_workers=16, thread_name_prefix="handrail-activity") as executor:
        async with AsyncExitStack() as stack:
            for worker in build_workers(client, runtime, executor):
                await stack.enter_async_context(worker)
            logger.info(
                "worker polling %s and %d write queue(s)",
                runtime.settings.task_queue,
                len(runtime.systems),
            )
            await (stop or asyncio.Event()).wait()
