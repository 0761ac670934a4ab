"""Dataset commands: `rarespecies demo-data` (the synthetic demo dataset, pipeline/data/
demo_data.py) and `rarespecies prepare-paper-subset` (the paper's 20 species from Kaggle's
bird dataset, pipeline/data/paper_subset.py)."""
import sys

from pipeline.configs import PipelineConfig


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo-data",
        help="write the synthetic 20-species demo image dataset (Table I counts)",
        description="Write a synthetic image dataset with the paper's 20 species and Table I's "
                    "training counts (1,811 train, 677 test images) as "
                    "OUT/{train,test}/<Species Name>/<nnnn>.jpg. Same seed, same bytes.")
    parser.add_argument("--out", default=PipelineConfig().data_root,
                        help="output folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--image-size", type=int, default=224,
                        help="image width and height in pixels (default: %(default)s)")
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


def demo_data_command(args) -> int:
    from pipeline.data import demo_data  # numpy/PIL import kept out of `rarespecies --help`

    try:
        summary = demo_data.generate(args.out, seed=args.seed, image_size=args.image_size,
                                     overwrite=args.overwrite)
    except FileExistsError as err:  # a user error, not a crash: no traceback
        print(f"demo-data: error: {err}", file=sys.stderr)
        return 1
    print(f"demo-data: {summary['n_train']} train + {summary['n_test']} test images, "
          f"{len(summary['train'])} species, {args.image_size}px, seed {args.seed} -> "
          f"{summary['out_dir']}")
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
        print(f"{name:<20} train {c['train']:>4}  test {c['test']:>4}{note}")
    if result["missing"]:
        print(f"not found in the Kaggle data (left out): {', '.join(result['missing'])}")
    print(f"{result['n_train']} train + {result['n_test']} test images -> {result['out_dir']} "
          "(manifest.csv lists each file's source)")
    return 0
