"""Circuits: the constraint system, the witness and its layout (the names of the modules below,
re-exported).

* constraint_system.py: `ConstraintSystem` (columns, gates, lookups, copy-enabled columns,
  challenges; degree, blinding rows and sizes), `BLINDING_ROWS`;
* constraints.py: `Gate`, `GatePolynomial`, `Lookup`, `Table`;
* degree.py: `choose_degree`, the degree a circuit is proved at, by estimated prover cost;
* assignment.py: `Assignment`, the witness of one execution (values, copies, regions,
  tables, challenge values; phases), and `synthesize`;
* layouter.py: `Layouter`, `Region`, `TableRegion`: how a circuit's synthesize writes it;
* planner.py: the floor planners ("packed", "single") placing regions;
* cells.py: `Cell`, `CellRange`, `RegionInfo`;
* column_store.py, copies.py, region_index.py: the witness's values, copy constraints and
  region lookups;
* errors.py: `CircuitError`.

Expressions (columns, queries, selectors, challenges) are in expression.py; docs/circuits.md
walks through writing a circuit.
"""
# (every name this module held before the split stays importable from here)
from .assignment import Assignment, synthesize
from .cells import Cell, CellRange, RegionInfo
from .constraint_system import BLINDING_ROWS, MIN_K, ConstraintSystem  # noqa: F401
from .constraints import Gate, GatePolynomial, Lookup, Table
from .degree import COSET_COST, MSM_COST, choose_degree  # noqa: F401
from .errors import CircuitError
from .expression import (ADVICE, FIXED, INSTANCE, TABLE_ROLES, Challenge, Column,  # noqa: F401
                         Expression, Selector, as_expr, signed)
from .layouter import Layouter, Region, TableRegion
from .planner import DEFAULT_FLOOR_PLANNER, FLOOR_PLANNERS
from .row_program import compile_expressions  # noqa: F401

__all__ = [
    "FLOOR_PLANNERS", "DEFAULT_FLOOR_PLANNER", "BLINDING_ROWS", "ConstraintSystem", "Gate", "GatePolynomial", "Lookup", "Table",
    "Layouter", "Region", "TableRegion", "Cell", "CellRange", "Assignment", "RegionInfo",
    "synthesize", "CircuitError",
]
