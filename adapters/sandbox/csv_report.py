"""The report of a CRM CSV import: counts, the date shift, and every repaired or rejected row."""

from collections import Counter
from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

IssueAction = Literal["repaired", "rejected"]


class ImportIssue(BaseModel):
    """One row that was imported with a repair, or not imported at all.

    ``row`` counts data rows from 1. The header and blank lines are not counted.
    """

    file: str
    row: int
    record_id: str | None = Field(description="the source id or name of the row, if it has one")
    action: IssueAction
    kind: str = Field(description="short, stable category, e.g. 'product_name'")
    reason: str


class ImportReport(BaseModel):
    """Outcome of one ``import_crm_csv`` call: counts, date shift, repaired and rejected rows."""

    folder: str
    anchor: date
    shift_days: int
    shift_rule: str
    rows_read: dict[str, int] = Field(default_factory=dict)
    rows_imported: dict[str, int] = Field(default_factory=dict)
    records_written: dict[str, int] = Field(default_factory=dict)
    issues: list[ImportIssue] = Field(default_factory=list)

    def rejected(self, file: str | None = None) -> list[ImportIssue]:
        """Return the rejected rows, of one file or of all files."""
        return [
            issue
            for issue in self.issues
            if issue.action == "rejected" and (file is None or issue.file == file)
        ]

    def repaired(self, file: str | None = None) -> list[ImportIssue]:
        """Return the rows imported with a repair, of one file or of all files."""
        return [
            issue
            for issue in self.issues
            if issue.action == "repaired" and (file is None or issue.file == file)
        ]

    def format_text(
        self,
        *,
        limit: int | None = 20,
        more_hint: str = "`handrail sandbox import-crm-csv DIR --replace --details` lists all",
    ) -> str:
        """Format the report for a terminal: summary lines, then the first issues.

        Args:
            limit: how many repaired or rejected rows to list one by one, or None
                for all of them. Defaults to 20; the full list is in ``issues``.
            more_hint: what to do to see the rest, printed after a cut list.
        """
        lines = [
            f"Imported the CRM export in {self.folder} (anchor {self.anchor.isoformat()}).",
            f"Dates shifted by {self.shift_days:+,} days: {self.shift_rule}.",
        ]
        for file, read in self.rows_read.items():
            if file in self.rows_imported:
                imported = self.rows_imported[file]
                rejected = len(self.rejected(file))
                lines.append(
                    f"{file}: {read:,} rows read, {imported:,} imported, {rejected:,} rejected"
                )
            else:
                lines.append(f"{file}: {read:,} rows read (reference only, not imported)")
        written = ", ".join(f"{name} {count:,}" for name, count in self.records_written.items())
        lines.append(f"Records written: {written}")
        lines.append(_summary_line("Repaired", self.repaired()))
        lines.append(_summary_line("Rejected", self.rejected()))

        if self.issues:
            # Rejected rows first: they are the ones missing from the sandbox.
            listed = (self.rejected() + self.repaired())[:limit]
            lines.append(
                f"Details (rows count data rows from 1, without header and blank lines; "
                f"first {len(listed):,} of {len(self.issues):,} issues, as a row can have "
                "more than one):"
            )
            for issue in listed:
                label = f" {issue.record_id}" if issue.record_id else ""
                lines.append(
                    f"  {issue.file} row {issue.row}{label}: {issue.action}: {issue.reason}"
                )
            hidden = len(self.issues) - len(listed)
            if hidden:
                lines.append(f"  … and {hidden:,} more ({more_hint})")
        return "\n".join(lines)


def _summary_line(label: str, issues: list[ImportIssue]) -> str:
    if not issues:
        return f"{label}: 0 rows"
    # One row can have several repairs, so rows and issues are counted apart.
    rows = len({(issue.file, issue.row) for issue in issues})
    by_kind = Counter(issue.kind for issue in issues)
    kinds = ", ".join(f"{kind} {count:,}" for kind, count in sorted(by_kind.items()))
    return f"{label}: {rows:,} rows ({kinds})"
