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
    params = config.load_params()
    from actionrec.train.pretraining import backbone_settings, pretrain
    from actionrec.train.recipe import Recipe

    backbones = backbone_settings(config.get(params, "pretrain.backbones"))
    size = config.positive_int(params, "pretrain.input_size", minimum=32)
    sizes = {k: config.positive_int(params, f"pretrain.{k}") for k in ("images", "epochs", "batch_size")}
    if sizes["batch_size"] > sizes["images"]:
        raise ParamError("pretrain.batch_size", sizes["batch_size"], f"at most pretrain.images = {sizes['images']}")
    recipe = Recipe.read(config.get(params, "pretrain"), "pretrain")
    results = {}
    with atomic_dir(args.out) as tmp:  # a failure leaves no half-written folder
        for name, settings in backbones.items():
            key = f"pretrain.backbones.{name}"
            epochs = sizes["epochs"] if settings["epochs"] is None else config.positive_int(params, f"{key}.epochs")
            print(f"pretrain {name}: {sizes['images']} synthetic images of {size} px, {epochs} epochs", flush=True)
            result = pretrain(
                name, settings, key=key, size=size, recipe=recipe, seed=config.get(params, "seed"), out=tmp, **(sizes | {"epochs": epochs})
            )
            results[name] = result
            print(
                f"pretrain {name}: held-out accuracy {result['val_accuracy']:.3f} (chance {result['chance']:.3f}) in {result['train_seconds']} s",
                flush=True,
            )
    write_json(args.metrics, results)


if __name__ == "__main__":
    cli.run(main)
