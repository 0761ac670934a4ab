"""`rarespecies prepare-paper-subset`: the paper's 20-species dataset from Kaggle's birds."""
import sys


def prepare_command(args) -> int:
    from pipeline import paper_subset
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


def add_parser(subparsers) -> None:
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
    parser.set_defaults(func=prepare_command)
