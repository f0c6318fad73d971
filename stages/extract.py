"""extract: sample ``frames.count`` frames per video into the streaming frame store data/frames."""

from pathlib import Path

from actionrec import cli, config, ucf101
from actionrec.errors import ParamError
from actionrec.framestore import extract

RAW, STORE = Path("data/raw"), Path("data/frames")


def main() -> None:
    params = config.load_params()
    split = config.get(params, "data.split")
    if split not in ucf101.SPLITS:
        raise ParamError("data.split", split, "one of 1, 2, 3")
    strict = config.get(params, "frames.strict")
    if not isinstance(strict, bool):
        raise ParamError("frames.strict", strict, "true or false")
    summary = extract(
        RAW,
        STORE,
        split=split,
        count=config.positive_int(params, "frames.count", minimum=2),
        size=config.size_pair(params, "frames.size"),
        workers=config.workers(params, "frames.workers"),
        strict=strict,
    )
    print(f"extract: {summary['videos']} videos in {len(summary['classes'])} classes, {summary['skipped']} skipped")


if __name__ == "__main__":
    cli.run(main)
