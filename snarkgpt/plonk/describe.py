"""Circuit inspection: what a constraint system contains, as a JSON-ready dict or as text.

    desc = describe(cs, assignment)     # plain dicts, lists, strings and ints
    print(format_text(desc))
    json.dumps(desc)                    # what `snarkgpt inspect --json` prints

The description lists the columns (kind, phase, role, equality), the gates as readable
polynomials with their constraint names and degrees, the lookups with their tables (and
table sizes when an assignment is given), the permutation, the challenges, the degree, the
estimated cost, and with an assignment: k, the usable rows, the floor planner, and per
region its start, height and columns (regions placed side by side share rows).
"""
from __future__ import annotations

from .assignment import Assignment
from .constraint_system import ConstraintSystem

__all__ = ["describe", "format_text"]


def _column(cs: ConstraintSystem, c) -> dict:
    d = {"name": c.name, "kind": c.kind, "index": c.index, "role": c.role,
         "equality": c in cs._perm_pos}
    if c.kind == "advice":
        d["phase"] = c.phase
    return d


def describe(cs: ConstraintSystem, assignment: Assignment | None = None,
             max_regions: int = 200) -> dict:
    """A JSON-ready description of ``cs`` (and of ``assignment``'s layout, if given).

    ``regions`` lists at most ``max_regions`` individual regions; ``rows_per_region`` always
    aggregates every region by name."""
    groups = cs.lookup_groups()
    asg = assignment
    table_sizes = {}
    if asg is not None:
        for lk in cs.lookups:
            cols = [q.column for e in lk.table for q in e.queries()]
            names = {asg._table_columns.get(c) for c in cols}
            sizes = [asg.tables[nm] for nm in names if nm is not None]
            table_sizes[lk.table_key] = max(sizes) if sizes else None
    k = asg.k if asg is not None else cs.k
    desc: dict = {
        "summary": {
            "advice_columns": cs.num_advice,
            "fixed_columns": cs.num_fixed,
            "instance_columns": cs.num_instance,
            "selectors": len(cs.selectors),
            "gates": len(cs.gates),
            "constraints": sum(len(g.constraints) for g in cs.gates),
            "lookups": len(cs.lookups),
            "tables": len(groups),
            "equality_columns": len(cs.permutation_columns),
            "challenges": len(cs.challenges),
            "phases": cs.num_phases,
            "degree": cs.degree(),
            "blinding_rows": cs.blinding_rows,
            "k": asg.k if asg is not None else cs.k,
            "rows_used": int(asg.rows_used) if asg is not None else cs.num_rows,
        },
        "columns": {
            "advice": [_column(cs, c) for c in cs.advice_columns],
            "fixed": [_column(cs, c) for c in cs.fixed_columns],
            "instance": [_column(cs, c) for c in cs.instance_columns],
        },
        "challenges": [{"name": c.name, "index": c.index, "after_phase": c.after_phase}
                       for c in cs.challenges],
        "gates": [{
            "name": g.name,
            "selector": str(g.selector),
            "degree": g.degree(),
            "constraints": [{"name": n, "expression": str(e), "degree": e.degree() + g.selector.degree()}
                            for n, e in zip(g.constraint_names, g.constraints)],
        } for g in cs.gates],
        "lookups": [{
            "name": lk.name,
            "inputs": [str(e) for e in lk.inputs],
            "table": lk.table_name,
            "table_columns": [str(e) for e in lk.table],
            "selector": str(lk.selector),
            "degree": lk.degree(),
            **({"table_size": table_sizes.get(lk.table_key)} if asg is not None else {}),
        } for lk in cs.lookups],
        "tables": [{"name": lks[0].table_name, "columns": list(key),
                    "lookups": [lk.name for lk in lks],
                    **({"size": table_sizes.get(key)} if asg is not None else {})}
                   for key, lks in groups.items()],
        "permutation": {
            "columns": [c.name for c in cs.permutation_columns],
            "chunk_size": cs.permutation_chunk_size(),
            "products": cs.num_permutation_products(),
        },
    }
    if asg is not None:
        copies = asg.copies
        desc["permutation"]["copies"] = int(len(copies))
        desc["layout"] = {
            "k": asg.k,
            "n": asg.n,
            "usable_rows": asg.usable_rows,
            "rows_used": int(asg.rows_used),
            "regions": len(asg.regions),
            "planner": asg.planner,
            "phase": asg.phase,
            "complete": asg.is_complete,
        }
        desc["rows_per_region"] = asg.rows_per_region()
        desc["columns_per_region"] = asg.columns_per_region()
        desc["regions"] = [{"name": r.name, "start": r.start, "rows": r.height,
                            "columns": r.column_names()}
                           for r in asg.regions[:max_regions]]
        if len(asg.regions) > max_regions:
            desc["regions_truncated"] = len(asg.regions) - max_regions
        desc["tables_assigned"] = dict(asg.tables)
    if k is not None:
        desc["cost"] = cs.cost(k)
    return desc


def _table(rows, headers) -> list[str]:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]
    line = "  ".join(str(h).ljust(w) for h, w in zip(headers, widths)).rstrip()
    out = ["  " + line, "  " + "  ".join("-" * w for w in widths)]
    for r in rows:
        out.append("  " + "  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())
    return out


def format_text(desc: dict) -> str:
    """The description as a plain-text report."""
    s = desc["summary"]
    out = ["Constraint system",
           f"  {s['advice_columns']} advice, {s['fixed_columns']} fixed, {s['instance_columns']} instance "
           f"columns; {s['gates']} gates ({s['constraints']} constraints); {s['lookups']} lookups "
           f"into {s['tables']} tables; {s['equality_columns']} equality columns; "
           f"{s['challenges']} challenges; {s['phases']} phase(s)",
           f"  degree {s['degree']}; blinding rows {s['blinding_rows']}"]
    if "layout" in desc:
        lay = desc["layout"]
        out.append(f"  k = {lay['k']} (n = {lay['n']}), usable rows {lay['usable_rows']}, rows used "
                   f"{lay['rows_used']}, {lay['regions']} regions (planner {lay.get('planner', 'single')})")
    out.append("")
    out.append("Columns")
    rows = []
    for kind in ("advice", "fixed", "instance"):
        for c in desc["columns"][kind]:
            role = c["role"] if c["role"] != kind else ""
            rows.append((c["name"], kind, c.get("phase", ""), role, "yes" if c["equality"] else ""))
    out += _table(rows, ("name", "kind", "phase", "role", "equality"))
    if desc["challenges"]:
        out.append("")
        out.append("Challenges")
        out += [f"  {c['name']}: squeezed after phase {c['after_phase']}" for c in desc["challenges"]]
    out.append("")
    out.append("Gates")
    for g in desc["gates"]:
        out.append(f"  {g['name']} (selector {g['selector']}, degree {g['degree']})")
        for c in g["constraints"]:
            out.append(f"    {c['name']}:  {c['expression']} = 0")
    if desc["lookups"]:
        out.append("")
        out.append("Lookups")
        for lk in desc["lookups"]:
            size = f", {lk['table_size']} rows" if lk.get("table_size") is not None else ""
            out.append(f"  {lk['name']}: ({', '.join(lk['inputs'])}) in {lk['table']}{size} "
                       f"when {lk['selector']} != 0 (degree {lk['degree']})")
    perm = desc["permutation"]
    out.append("")
    out.append("Permutation")
    copies = f", {perm['copies']} copy constraints" if "copies" in perm else ""
    out.append(f"  columns: {', '.join(perm['columns']) or '(none)'}; {perm['products']} grand "
               f"product(s) of up to {perm['chunk_size']} columns{copies}")
    if "rows_per_region" in desc:
        out.append("")
        out.append("Rows per region")
        cols = desc.get("columns_per_region", {})
        out += _table([(name, rows, ", ".join(cols.get(name, [])))
                       for name, rows in desc["rows_per_region"].items()],
                      ("region", "rows", "columns"))
    if "cost" in desc:
        c = desc["cost"]
        out.append("")
        out.append("Estimated cost")
        out.append(f"  degree {c['degree']}: quotient on {c['quotient_cosets']} cosets "
                   f"({c['extended_size']} rows); prover "
                   f"commitments {c['prover_commitments']} (advice {c['advice_commitments']}, "
                   f"lookup {c['lookup_commitments']}, permutation {c['permutation_products']}, "
                   f"quotient {c['quotient_pieces']}); verifying key commitments "
                   f"{c['verifying_key_commitments']}")
    return "\n".join(out)
