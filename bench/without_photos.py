"""``python -m bench.without_photos serve …``: the service as ``python -m app serve`` serves it, except that a
photo already processed once by this process is not processed again.

For ``bench.cpu`` only (its ``paper_nophoto`` endpoint): what a paper ballot costs the server WITHOUT the photo
work, measured directly. The first upload of given bytes is checked, cleaned and stored for real
(``app.media.images.Staging.image``, its files installed in storage by the request as usual); every later
upload of the same bytes is answered with that result from memory: no decoding, no encoding, no file written,
no worker thread. Everything else of the request — the form, the checks, the transactions, the ballot and its
media row — runs as in the service.

Why not only subtract: the photo work measured alone, on an idle event loop, is cheaper than the same work
inside a loaded server (the loop's thread and the photo's worker threads hand the GIL to each other, caches are
cold), so "the paper ballot less its photo work measured alone" still carries part of the photo's cost.
``bench.cpu`` prints both figures.

Never for a deployment: a photo answered from memory skips the content check of what was uploaded.
"""

from __future__ import annotations

import hashlib
import sys

from fastapi import UploadFile

from app import __main__ as app_main
from app.media import images
from app.media.images import Staging, StoredImage

_processed: dict[str, StoredImage] = {}  # sha256 of the uploaded bytes → what processing them gave
_real_image = Staging.image


async def _image_once(self: Staging, upload: UploadFile) -> StoredImage:
    data = upload.file.read()
    upload.file.seek(0)
    key = hashlib.sha256(data).hexdigest()
    stored = _processed.get(key)
    if stored is None:
        stored = _processed[key] = await _real_image(self, upload)
    return stored


def main() -> int:
    if images.Staging.image is not _real_image:
        raise RuntimeError("Staging.image is already replaced")
    images.Staging.image = _image_once  # type: ignore[method-assign]
    return app_main.main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
