"""The Evaluator's output as plain numbers per slice, read with TFMA's own loader."""
from typing import Dict

GROUP_ORDER = ("bottom_2", "bottom_5", "bottom_10", "top_5", "top_10", "many", "medium", "few")


def _value(metric):
    for key in ("doubleValue", "double_value"):
        if key in metric:
            return float(metric[key])
    return metric  # structured values (matrices, arrays) stay as TFMA gives them


def load(evaluation_uri: str) -> Dict[str, Dict]:
    """{"overall": {metric: value}, "frequency_group": {group: {...}}, "species": {name: {...}}}."""
    import tensorflow_model_analysis as tfma
    result = tfma.load_eval_result(evaluation_uri)
    table = {"overall": {}, "frequency_group": {}, "species": {}}
    for slice_key, metrics in result.slicing_metrics:
        values = {name: _value(m) for name, m in metrics[""][""].items()}
        if not slice_key:
            table["overall"] = values
        elif len(slice_key) == 1:
            column, value = slice_key[0]
            value = value.decode() if isinstance(value, bytes) else str(value)
            table.setdefault(column, {})[value] = values
    return table


def format_group_table(table: Dict[str, Dict]) -> str:
    rows = [("overall", table["overall"])]
    groups = table.get("frequency_group", {})
    rows += [(g, groups[g]) for g in GROUP_ORDER if g in groups]
    lines = [f"{'slice':<10} {'accuracy':>9} {'examples':>9}"]
    for name, values in rows:
        accuracy = values.get("accuracy")
        count = values.get("example_count")
        lines.append(f"{name:<10} {accuracy if accuracy is None else f'{accuracy:9.3f}':>9} "
                     f"{'' if count is None else int(count):>9}")
    return "\n".join(lines)
