"""The fetch_context activity."""

from collections.abc import Mapping
from datetime import UTC, datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import adapter_failure
from activities.lanes import LaneRegistry
from activities.scoped_reader import ScopedReader, UndeclaredRead
from adapters.base import AdapterError, SystemOfRecord
from contracts import ContextBundle, FetchContextInput


class ContextActivities:
    def __init__(self, lanes: LaneRegistry, systems: Mapping[str, SystemOfRecord]) -> None:
        self._lanes = lanes
        self._systems = systems

    @activity.defn(name="fetch_context")
    def fetch_context(self, input: FetchContextInput) -> ContextBundle:
        """Read the lane's declared fields for the event's record, with their sources."""
        binding = self._lanes.get(input.lane)
        spec = binding.spec
        system = self._systems.get(spec.source_system)
        if system is None:
            raise ApplicationError(
                f"no adapter configured for system {spec.source_system!r}",
                type="UnknownTarget",
                non_retryable=True,
            )
        reader = ScopedReader(system, spec.reads, datetime.now(UTC))
        try:
            bundle = binding.build_context(reader, input.event, reader.fetched_at)
        except AdapterError as err:
            raise adapter_failure(
                err, what=f"reading {input.event.source_record_type} {input.event.source_record_id}"
            ) from err
        except UndeclaredRead as err:
            # A lane bug, not a data problem: retrying cannot help.
            raise ApplicationError(str(err), type="UndeclaredRead", non_retryable=True) from err
        activity.logger.info(
            "context fetched: %d fields, %d missing", len(bundle.fields), len(bundle.missing)
        )
        return bundle.model_copy(update={"policy_snippets": list(spec.policy_snippets)})
