"""The three kinds of model input, one object each: what an architecture's ``INPUT`` means for the
data layer (which sampling keys it takes, what one example is, how many a video gives, and
what the model is handed), so that no module tests the kind's name.

=========  =================================  ===============================================
kind       one example                         the model's input
=========  =================================  ===============================================
frames     one frame (K per video: segments)   (size, size, 3)
clip       L frames s apart                    (L, size, size, 3)
clip+flow  a clip and ``flow.stack`` fields    {"rgb": (L, size, size, 3), "flow": (stack, size, size, 2)}
=========  =================================  ===============================================
"""

from __future__ import annotations

from dataclasses import dataclass

from actionrec.errors import PipelineError


@dataclass(frozen=True)
class InputKind:
    name: str  # an architecture's INPUT
    sampling_keys: tuple[str, ...]  # its keys under architectures.<name>.sampling
    per_frame: bool  # an example is one frame of a video's K (TSN segments), else one clip
    flow: bool  # an example carries stacked optical flow beside the RGB (two-stream)

    def frames_per_example(self, clip_len: int) -> int:
        return 1 if self.per_frame else clip_len

    def examples_per_video(self, segments: int, clips: int = 1, crops: int = 1) -> int:
        """Examples one video gives: per training epoch (1 x 1), or over its clips x crops test views."""
        return crops * clips * (segments if self.per_frame else 1)

    def model_input(self, rgb, flow):
        """What the model is handed for these examples (a two-stream model takes both streams by name)."""
        return {"rgb": rgb, "flow": flow} if self.flow else rgb


FRAMES = InputKind("frames", ("segments",), per_frame=True, flow=False)
CLIP = InputKind("clip", ("clip_len", "frame_interval"), per_frame=False, flow=False)
CLIP_FLOW = InputKind("clip+flow", ("clip_len", "frame_interval"), per_frame=False, flow=True)
KINDS = {kind.name: kind for kind in (FRAMES, CLIP, CLIP_FLOW)}


def get(name: str | InputKind) -> InputKind:
    if isinstance(name, InputKind):
        return name
    if name not in KINDS:
        raise PipelineError(f"unknown input kind {name!r} (expected one of {', '.join(KINDS)})")
    return KINDS[name]
