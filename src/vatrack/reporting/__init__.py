"""Reports: Markdown + one self-contained HTML file + PNG plots.

``comparison_report`` (after vatrack.experiments.compare), ``run_report`` (one training run,
a CV folder or a comparison folder), ``sweep_report`` (after vatrack.experiments.sweep) and
``track_report`` (after vatrack.experiments.track)
build a :class:`Report` of blocks; ``write_report`` renders it twice.
"""

from vatrack.reporting.analysis import comparison_report, run_report
from vatrack.reporting.document import Report, write_report
from vatrack.reporting.sweep import sweep_report
from vatrack.reporting.track import track_report

__all__ = ["Report", "comparison_report", "run_report", "sweep_report", "track_report", "write_report"]
