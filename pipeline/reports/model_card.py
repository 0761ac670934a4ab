"""The model card: what the model is, what it was trained on, how it does by species group, and
its known limits (rare species, small test sets, a closed set of species, calibration)."""
import os

from pipeline.reports.gather import ReportData, species_rows
from pipeline.reports.tables import markdown_table, validation_lines
from pipeline.reports.rows import fmt, row_value
from schema.features import FEW_BELOW, bottom, top
from trainer.hparams import LOSS_PARAMETERS, TrainerConfig

PAPER_DEFAULTS = TrainerConfig().to_custom_config()
# Settings the card names on its own lines, not among the recipe's changes.
SHOWN = {"recipe", "loss", "alpha", "gamma", "beta", "tau", "image_size", "weights", "backbone",
         "epochs", "batch_size", "learning_rate", "seed", "feature_cache_dir"}

MODEL_CARD = "model_card.md"


def model_card(data: ReportData) -> str:
    rows = species_rows(data)
    t = data.training
    candidate = data.tables["candidate"]
    n_train = sum(data.train_counts.values())
    n_test = sum(r["test_count"] for r in rows)
    rarest = sorted(rows, key=lambda r: (r["train_count"], r["species"]))[:5]
    synthetic = "demo" in os.path.basename(os.path.normpath(data.data_root or "")).lower()
    few = [r for r in rows if r["train_count"] < FEW_BELOW]
    accuracy = row_value(candidate, "accuracy")
    rarest_5, commonest_5 = row_value(candidate, bottom(5)), row_value(candidate, top(5))
    ece = row_value(candidate, "calibration_error")
    version = (os.path.basename(os.path.normpath(data.pushed_destination))
               if data.pushed and data.pushed_destination else "not pushed")

    def setting(key, default="?"):
        return t.get(key, default)

    loss = setting("loss")
    loss_text = str(loss) + "".join(f" {k} {setting(k)}" for k in LOSS_PARAMETERS.get(loss, ()))

    limits = [
        "- **Rare species.** The species with the fewest training images are "
        + ", ".join(f"{r['species']} ({r['train_count']} train, recall "
                    f"{fmt(r['recall']) or 'n/a'})" for r in rarest)
        + ". Expect these to be missed far more often than common species"
        + (f" (5 rarest: {rarest_5:.1f}% vs 5 most common: {commonest_5:.1f}%)."
           if rarest_5 is not None and commonest_5 is not None else "."),
        f"- **Small test sets.** {len(few)} species have fewer than {FEW_BELOW} training "
        "images, and "
        f"the two rarest have {' and '.join(str(r['test_count']) for r in rarest[:2])} test "
        "images: their accuracies move in large steps and carry wide uncertainty.",
        "- **Closed set.** The model always answers with one of the species below; an animal "
        "of another species (or an empty frame) gets the most similar known label.",
    ]
    if ece is not None:
        limits.append(f"- **Calibration.** Expected calibration error {ece:.3f} (15 bins): the "
                      "top score differs from the observed accuracy by that much on average; "
                      "treat scores as a ranking rather than as probabilities.")
    if synthetic:
        limits.append("- **Synthetic data.** Trained and evaluated on the synthetic demo data; "
                      "these numbers say nothing about real photographs.")
    if str(setting("weights", "none")) in ("none", ""):
        limits.append("- **No pre-training.** The backbone started from random weights.")

    return "\n".join([
        f"# Model card: {data.model_name or data.pipeline_name} (version {version})",
        "",
        "## Model",
        "",
        "MobileNetV2 image classifier with Schneider's head (dense 1024-1024-512, softmax over "
        f"{len(data.species)} species), trained by the TFX pipeline `{data.pipeline_name}`.",
        "",
        f"- recipe: {setting('recipe', 'paper')}; loss: {loss_text}",
        f"- input: {setting('image_size')} px; backbone weights: {setting('weights')}, "
        f"{setting('backbone')}; {setting('epochs')} epochs, batch {setting('batch_size')}, "
        f"learning rate {setting('learning_rate')}, seed {setting('seed')}",
        *recipe_lines(t, data.choices),
        "- serving: `serving_default(image_bytes)` -> `scores`, `classes` (species, best "
        "first); `serving_examples(examples)` for tf.Examples",
        "",
        "## Data",
        "",
        f"{n_train} training and {n_test} test images of {len(data.species)} species"
        + (f" from `{data.data_root}`" if data.data_root else "")
        + (f" (files rejected at ingestion: {data.files_rejected})" if data.files_rejected
           else "")
        + ".",
        "",
        "| species | train | test | recall |",
        "|---|---:|---:|---:|",
        *[f"| {r['species']} | {r['train_count']} | {r['test_count']} | {fmt(r['recall'])} |"
          for r in rows],
        "",
        "## Results by species frequency group (test split)",
        "",
        f"Overall accuracy {accuracy:.1f}%." if accuracy is not None else "",
        "",
        markdown_table(data),
        "",
        *validation_lines(data),
        "",
        "## Intended use",
        "",
        "Suggesting species labels for wildlife photographs (camera traps, bird photos) of the "
        "species listed above, to speed up human labelling: a person reviews the suggestions, "
        "above all for rare species. Not for decisions without review (e.g. counts for "
        "conservation status), and not for species outside the list.",
        "",
        "## Known limits",
        "",
        *limits,
        "",
    ])


def recipe_lines(settings: dict, choices: dict) -> list:
    """The settings the recipe (or a flag) changed from the paper's, and what the Trainer chose
    on the validation split (training_report.json)."""
    changed = [f"{name} {value}" for name, value in sorted(settings.items())
               if name in PAPER_DEFAULTS and name not in SHOWN and value != PAPER_DEFAULTS[name]]
    lines = [f"- changed from the paper's settings: {', '.join(changed)}"] if changed else []
    augmentation = choices.get("augmentation")
    if augmentation:
        check = augmentation["mirror_check"]
        lines.append(
            f"- augmentation {augmentation['asked']} chose {augmentation['chosen']}, on "
            f"{augmentation['chosen_on']}: the nearest class mean on their pixels was right "
            f"for {check['accuracy']:.0%} of them and for {check['mirrored_accuracy']:.0%} of "
            f"their mirror images (chance {check['chance']:.0%}; z {check['z']:.1f})")
    sampling = choices.get("sampling")
    if sampling:
        lines.append(
            f"- sampling {sampling['asked']} chose {sampling['chosen']}, on "
            f"{sampling['chosen_on']}: the species average {sampling['mean_train_images']:.1f} "
            f"train images, the species quota is {sampling['species_quota']}")
    if choices:
        # Reports from before weight averaging name the best epoch only.
        kept = choices.get("weights_kept") or f"those of epoch {choices.get('best_epoch')}"
        lines.append(f"- weights kept: {kept}")
        tau = f"post-hoc tau {choices.get('posthoc_tau')}"
        if choices.get("posthoc_tau_fallback"):
            lacking = choices.get("validation_lacks", [])
            tau += (f" (fixed, not fitted: the split lacks {len(lacking)} species that train has, "
                    f"{', '.join(lacking)})")
        lines.append(
            f"- chosen on {choices.get('chosen_on', 'the validation split')}: "
            f"classifier {choices.get('classifier')}, {tau}, prototype weight "
            f"{choices.get('prototype_weight')} (validation macro-F1 "
            f"{fmt(choices.get('validation_f1'))}); the test split chose nothing")
    elif settings:
        lines.append(f"- post-hoc logit adjustment tau {settings.get('posthoc_tau', 0.0)}")
    abstain, ece = choices.get("abstain"), choices.get("validation_ece")
    if abstain and ece:
        kept = abstain.get("precision")
        lines.append(
            f"- answers 'unknown' below a top score of {abstain['threshold']:.3f}: on the "
            f"validation split the answers kept were right "
            f"{'(none kept)' if kept is None else format(kept, '.0%')} of the time (target "
            f"{abstain['target_precision']:.0%}) and covered {abstain['coverage']:.0%} of the "
            f"images; scores calibrated with temperature {choices.get('temperature', 1.0):.3g} "
            f"(calibration error {ece['before']:.3f} before, {ece['after']:.3f} after)")
    return lines
