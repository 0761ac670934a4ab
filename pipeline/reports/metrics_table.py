"""The Evaluator's output as plain numbers per slice, read with TFMA's own loader."""
from typing import Dict, Optional

from schema.features import FREQUENCY_GROUP_KEY, LABEL_KEY


def _value(metric):
    for key in ("doubleValue", "double_value"):
        if key in metric:
            return float(metric[key])
    return metric  # structured values (matrices, arrays) stay as TFMA gives them


def model_names(evaluation_uri: str) -> Dict[str, Optional[str]]:
    """{"candidate": name, "baseline": name or None}, as the Evaluator named the models it
    evaluated ("" alone; "candidate" and "baseline" when the Resolver found a blessed model)."""
    from tensorflow_model_analysis.writers import eval_config_writer
    eval_config = eval_config_writer.load_eval_run(evaluation_uri)[0]
    specs = list(eval_config.model_specs) if eval_config else []
    return {"candidate": next((s.name for s in specs if not s.is_baseline), ""),
            "baseline": next((s.name for s in specs if s.is_baseline), None)}


def _class_id(sub_key: str) -> Optional[int]:
    return int(sub_key.split(":", 1)[1]) if sub_key.startswith("classId:") else None


def load(evaluation_uri: str, model_name: Optional[str] = None) -> Dict[str, Dict]:
    """{"overall": {metric: value}, "frequency_group": {group: {...}}, "species": {name: {...}},
    "per_class": {class id: {precision, recall, f1}}, "confusion_matrix": {(actual id,
    predicted id): count}} of one model (default: the candidate; with a baseline, the
    candidate's values include "<metric>_diff" = candidate - baseline). Class ids are the
    model's label ids (its species vocabulary); per_class and the matrix are the overall slice's."""
    import tensorflow_model_analysis as tfma
    if model_name is None:
        model_name = model_names(evaluation_uri)["candidate"]
    result = tfma.load_eval_result(evaluation_uri, model_name=model_name)
    table = {"overall": {}, FREQUENCY_GROUP_KEY: {}, LABEL_KEY: {}, "per_class": {},
             "confusion_matrix": {}}
    for slice_key, metrics in result.slicing_metrics:
        by_sub_key = metrics[""]
        values = {name: _value(m) for name, m in by_sub_key.get("", {}).items()}
        if not slice_key:
            table["overall"] = values
            for sub_key, class_metrics in by_sub_key.items():
                if _class_id(sub_key) is not None:
                    table["per_class"][_class_id(sub_key)] = {
                        name: _value(m) for name, m in class_metrics.items()}
        elif len(slice_key) == 1:
            column, value = slice_key[0]
            value = value.decode() if isinstance(value, bytes) else str(value)
            table.setdefault(column, {})[value] = values
    for slice_key, plots in result.plots or []:
        matrices = plots.get("", {}).get("", {}).get("multiClassConfusionMatrixAtThresholds")
        if slice_key or not matrices:
            continue
        # One matrix, threshold 0.0 (argmax). Proto JSON leaves out zeros: class id 0.
        for entry in matrices["matrices"][0].get("entries", []):
            key = (int(entry.get("actualClassId", 0)), int(entry.get("predictedClassId", 0)))
            table["confusion_matrix"][key] = float(entry.get("numWeightedExamples", 0.0))
    return table
