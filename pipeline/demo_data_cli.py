"""`rarespecies demo-data`: write the synthetic demo dataset (see pipeline.demo_data)."""
import sys

from pipeline.configs import PipelineConfig


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "demo-data",
        help="write the synthetic 20-species demo image dataset (Table I counts)",
        description="Write a synthetic image dataset with the paper's 20 species and Table I's "
                    "training counts (1,811 train, 677 test images) as "
                    "OUT/{train,test}/<Species Name>/<nnnn>.jpg. Same seed, same bytes.")
    parser.add_argument("--out", default=PipelineConfig().data_root, help="output folder (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--image-size", type=int, default=224,
                        help="image width and height in pixels (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing train/test folders under --out")
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    from pipeline import demo_data  # numpy/PIL import kept out of `rarespecies --help`

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
