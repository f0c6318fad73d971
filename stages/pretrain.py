"""pretrain: the offline stand-in for ImageNet weights (actionrec/train/pretraining.py).

    python -m stages.pretrain data/pretrained metrics/pretrain.json

Trains each backbone under ``pretrain.backbones`` on a synthetic shape task that shares no class
with the videos and writes ``<out>/<backbone>.weights.h5``; the transfer architectures load it
through ``weights: data/pretrained/<backbone>.weights.h5``. With ``backbones: {}`` (a profile on
ImageNet weights) it writes an empty folder.
"""

import argparse
from pathlib import Path

from actionrec import cli, config
from actionrec.errors import ParamError
from actionrec.io import atomic_dir, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder for the weights files")
    parser.add_argument("metrics", type=Path, help="JSON file for each backbone's held-out accuracy and cost")
    args = parser.parse_args()
    params = config.load()
    from actionrec.train.pretraining import backbone_settings, pretrain, run_sizes
    from actionrec.train.recipe import Recipe

    settings = params.pretrain
    if settings is None:
        raise ParamError("pretrain", None, "a mapping (backbones: {} when every architecture uses imagenet weights)")
    backbones = backbone_settings(settings.backbones)
    size = settings.input_size
    sizes = {name: run_sizes(backbone, settings, f"pretrain.backbones.{name}") for name, backbone in backbones.items()}
    recipe = Recipe.of(settings)
    results = {}
    with atomic_dir(args.out) as tmp:  # a failure leaves no half-written folder
        for name, backbone in backbones.items():
            key, run = f"pretrain.backbones.{name}", sizes[name]
            print(f"pretrain {name}: {run['images']} synthetic images of {size} px, {run['epochs']} epochs", flush=True)
            result = pretrain(name, backbone, key=key, size=size, recipe=recipe, seed=params.seed, out=tmp, **run)
            results[name] = result
            print(
                f"pretrain {name}: held-out accuracy {result['val_accuracy']:.3f} (chance {result['chance']:.3f}) in {result['train_seconds']} s",
                flush=True,
            )
    write_json(args.metrics, results)


if __name__ == "__main__":
    cli.run(main)
