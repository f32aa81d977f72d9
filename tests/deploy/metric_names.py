"""Which metrics a PromQL expression reads, and whether a server's /metrics exports them.

promql_metric_names() is a tokenizer, not a parser: it drops what cannot hold a metric name
(strings, label matchers, range and subquery brackets, grouping label lists, Grafana variables)
and keeps every remaining identifier that is neither a function or aggregation (followed by
"(") nor a PromQL keyword. That is exact for the expressions alert rules and dashboards use.
"""

import re

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_LABEL_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.:])[A-Za-z_:][\w:]*")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
             "group_left", "group_right", "inf", "nan", "atan2"}
_LABEL_VALUES = re.compile(r"^\s*label_values\((?:(.*),)?\s*\w+\s*\)\s*$", re.S)

# Series that Prometheus writes itself for every target, whatever the target exports.
PROMETHEUS_SERIES = {"up"}


def promql_metric_names(expr):
    """The metric names `expr` selects, e.g. {"x_bucket"} for
    'histogram_quantile(0.9, sum by (le) (rate(x_bucket{job="a"}[5m])))'."""
    expr = _STRING.sub('""', expr)
    expr = _GRAFANA_VARIABLE.sub("", expr)
    expr = _LABEL_MATCHERS.sub("", expr)
    expr = _RANGE.sub("", expr)
    expr = _LABEL_LIST.sub("", expr)
    names = set()
    for match in _IDENTIFIER.finditer(expr):
        word = match.group()
        if word.lower() in _KEYWORDS or expr[match.end():].lstrip().startswith("("):
            continue
        names.add(word)
    return names


def grafana_query_metric_names(query):
    """Like promql_metric_names, for a Grafana template-variable query as well:
    label_values(EXPR, LABEL) reads the metrics of EXPR (none when EXPR is left out)."""
    match = _LABEL_VALUES.match(query)
    if match:
        return promql_metric_names(match.group(1) or "")
    return promql_metric_names(query)


def exposition_families(text):
    """{family name: type} from Prometheus text-format exposition (its # TYPE lines)."""
    families = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[:2] == ["#", "TYPE"]:
            families[parts[2]] = parts[3]
    return families


_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


def exported(name, families):
    """Whether a series called `name` comes from one of `families`: a counter, gauge or untyped
    family of that name, or a histogram's (summary's) _bucket, _sum or _count series."""
    if families.get(name) in ("counter", "gauge", "untyped"):
        return True
    for family_type, suffixes in _SUFFIXES.items():
        for suffix in suffixes:
            if name.endswith(suffix) and families.get(name[:-len(suffix)]) == family_type:
                return True
    return False
