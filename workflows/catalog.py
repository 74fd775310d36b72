"""The lanes this deployment runs, by name."""

from workflows.invoice_exception import InvoiceExceptionWorkflow
from workflows.lane import LaneWorkflow
from workflows.renewal_risk import RenewalRiskWorkflow
from workflows.spec import LaneSpec

LANE_WORKFLOWS: dict[str, type[LaneWorkflow]] = {
    RenewalRiskWorkflow.spec.name: RenewalRiskWorkflow,
    InvoiceExceptionWorkflow.spec.name: InvoiceExceptionWorkflow,
}


def lane_spec(name: str) -> LaneSpec:
    """Return the spec of a lane, raising KeyError with the known lanes if there is none."""
    try:
        return LANE_WORKFLOWS[name].spec
    except KeyError:
        raise KeyError(
            f"unknown lane {name!r}; known lanes: {', '.join(sorted(LANE_WORKFLOWS))}"
        ) from None
