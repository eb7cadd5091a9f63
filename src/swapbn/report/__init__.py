"""Tables, the paper's directions and figures from run directories; `load_runs` and
`load_layers` give the same runs as pandas data frames."""

from .frames import load_layers, load_runs

__all__ = ["load_layers", "load_runs"]
