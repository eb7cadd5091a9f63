"""The paper's experiments as data, and the sweep runner that trains them into run directories.

    from swapbn.experiments import EXPERIMENTS, SCALES, plan, check_existing, run_sweep,
    select_best
"""

from .grid import (
           GRID_LRS,
           GRID_WDS,
           GRID_WDS_IMAGENET,
           Choice,
           grid_points,
           select_best,
           select_per_setting,
)
from .registry import (
           ADHOC,
           EXPERIMENTS,
           Experiment,
           RunSpec,
           Variant,
           dataset_root,
           find_experiment,
           get_experiment,
           plan,
)
from .runner import PlannedRun, SweepOptions, all_completed, check_existing, run_sweep, summary
from .scales import SCALES, Scale, get_scale

__all__ = ["ADHOC", "EXPERIMENTS", "GRID_LRS", "GRID_WDS", "GRID_WDS_IMAGENET", "SCALES",
           "Choice", "Experiment", "PlannedRun", "RunSpec", "Scale", "SweepOptions", "Variant",
           "all_completed", "check_existing", "dataset_root", "find_experiment",
           "get_experiment", "get_scale", "grid_points", "plan", "run_sweep", "select_best",
           "select_per_setting", "summary"]
