"""Dataset commands: `rarespecies demo-data` (the synthetic demo dataset, pipeline/data/
demo_data.py) and `rarespecies prepare-paper-subset` (the paper's 20 species from Kaggle's
bird dataset, pipeline/data/paper_subset.py)."""
import os
import sys

from pipeline.configs import PipelineConfig


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo-data",
        help="write the synthetic 20-species demo image dataset (Table I counts)",
        description="Write a synthetic image dataset with the paper's 20 species and Table I's "
                    "training counts (1,811 train, 677 test and 200 validation images) as "
                    "OUT/{train,test,valid}/<Species Name>/<nnnn>.jpg. Same seed, same bytes.")
    parser.add_argument("--out", default=PipelineConfig().data_root,
                        help="output folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--image-size", type=int, default=224,
                        help="image width and height in pixels (default: %(default)s)")
    parser.add_argument("--scale", type=int, default=1,
                        help="every species' count times this: a bigger dataset with the same "
                             "long tail, for scale tests (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing train/test folders under --out")
    parser.set_defaults(func=demo_data_command)

    parser = subparsers.add_parser(
        "prepare-paper-subset",
        help="take the paper's 20 species from Kaggle's bird dataset, split 80/20, cut train "
             "to Table I's counts")
    parser.add_argument("--kaggle-root", required=True,
                        help="the unpacked Kaggle dataset (train/valid/test folders or CSV index)")
    parser.add_argument("--csv-index", help="CSV index inside --kaggle-root (default: folders, "
                                            "else the first .csv found)")
    parser.add_argument("--out", required=True, help="new folder for the subset")
    parser.add_argument("--seed", type=int, default=0, help="shuffle seed (default 0)")
    parser.set_defaults(func=prepare_paper_subset_command)

    parser = subparsers.add_parser(
        "schema", help="write a curated schema for your own species (review it, then pass it "
                       "to run with --schema)",
        description="Write a curated schema (schema.pbtxt) for a dataset: the species of its "
                    "train split as the species domain, and the pipeline's image, filename and "
                    "frequency-group features. Review the species, then pass the file to "
                    "`rarespecies run --schema`.")
    parser.add_argument("--data-root", required=True,
                        help="folder with train/ and test/ (valid/ optional)")
    parser.add_argument("--csv-index", help="Kaggle CSV index (filepaths,labels,data set), "
                                            "relative to --data-root")
    parser.add_argument("--output", required=True, help="the schema file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    parser.set_defaults(func=schema_command)


def demo_data_command(args) -> int:
    from pipeline.data import demo_data  # numpy/PIL import kept out of `rarespecies --help`

    try:
        summary = demo_data.generate(args.out, seed=args.seed, image_size=args.image_size,
                                     overwrite=args.overwrite, scale=args.scale)
    except (FileExistsError, ValueError) as err:  # a user error, not a crash: no traceback
        print(f"demo-data: error: {err}", file=sys.stderr)
        return 1
    print(f"demo-data: {summary['n_train']} train + {summary['n_test']} test + "
          f"{summary['n_valid']} valid images, "
          f"{len(summary['train'])} species, {args.image_size}px, seed {args.seed} -> "
          f"{summary['out_dir']}")
    return 0


def schema_command(args) -> int:
    from pipeline import dataset_schema
    from schema import curated
    from schema.errors import UserError
    if os.path.exists(args.output) and not args.overwrite:
        print(f"error: {args.output} exists; pass --overwrite to replace it", file=sys.stderr)
        return 1
    if not os.path.isdir(args.data_root):
        print(f"error: data root {args.data_root!r} is not a folder", file=sys.stderr)
        return 2
    try:
        count = dataset_schema.write_dataset_schema(args.data_root, args.output, args.csv_index)
    except (UserError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    species = curated.read_species(args.output)
    shown = ", ".join(species[:8]) + (f", ... ({count - 8} more)" if count > 8 else "")
    print(f"Wrote {args.output}: {count} species ({shown}).")
    print("Review the species domain, then run with it:")
    print(f"  rarespecies run --data-root {args.data_root} --schema {args.output}")
    return 0


def prepare_paper_subset_command(args) -> int:
    from pipeline.data import paper_subset
    try:
        result = paper_subset.prepare(args.kaggle_root, args.out, seed=args.seed,
                                      csv_index=args.csv_index)
    except (FileExistsError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for name, c in result["counts"].items():
        note = ""
        if name in result["short"]:
            have, want = result["short"][name]
            note = f"  (only {have} of Table I's {want} train images available)"
        print(f"{name:<20} train {c['train']:>4}  test {c['test']:>4}  valid {c['valid']:>3}"
              f"{note}")
    if result["missing"]:
        print(f"not found in the Kaggle data (left out): {', '.join(result['missing'])}")
    print(f"{result['n_train']} train + {result['n_test']} test + {result['n_valid']} valid "
          f"images -> {result['out_dir']} (manifest.csv lists each file's source)")
    return 0
