"""Resumable HTTP downloads (``Range`` requests into ``<file>.part``), with a progress bar."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from actionrec.errors import DataError

TIMEOUT = 30  # seconds without an answer before a download counts as offline


def download(url: str, path: Path, *, hint: str) -> None:
    """Download ``url`` to ``path`` via ``<path>.part``, resuming a previous partial download."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    start = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as e:
        if e.code == 416 and start:  # nothing left after our offset: the .part is suspect, start over
            part.unlink()
            return download(url, path, hint=hint)
        raise DataError(f"{url}: HTTP {e.code} {e.reason}. {hint}") from None
    except (TimeoutError, urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DataError(f"cannot download {url} ({reason}). {hint}") from None
    with response:
        if response.status == 206 and not response.headers.get("Content-Range", "").startswith(f"bytes {start}-"):
            response.close()  # a range we did not ask for: start over without one
            part.unlink()
            return download(url, path, hint=hint)
        if response.status == 206:
            mode, offset = "ab", start
        else:  # 200: the server ignored the range, restart from zero
            mode, offset = "wb", 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        try:
            with open(part, mode) as f, tqdm(total=total, initial=offset, unit="B", unit_scale=True, desc=path.name) as bar:
                while chunk := response.read(1 << 20):
                    f.write(chunk)
                    bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as e:
            raise DataError(f"{url}: download interrupted ({e}); run again to resume from {part}") from None
    size = part.stat().st_size
    if total is not None and size != total:
        raise DataError(f"{url}: got {size} of {total} bytes; run again to resume from {part}")
    part.replace(path)
